package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
)

// zeros is an endless stream of zero bytes that counts what was read.
type zeros struct{ n int64 }

func (z *zeros) Read(b []byte) (int, error) {
	clear(b)
	z.n += int64(len(b))
	return len(b), nil
}

// TestIDXReadStopsAtHeaderSize feeds a valid header followed by endless
// zeros, plain and through gzip: reading must stop a few KB past the
// 3·28·28 bytes the header implies, with a *FormatError saying so, where
// reading it whole would never end.
func TestIDXReadStopsAtHeaderSize(t *testing.T) {
	header := EncodeIDX([]int{3, 28, 28}, nil)
	for _, gz := range []bool{false, true} {
		body := &zeros{}
		var r io.Reader = io.MultiReader(bytes.NewReader(header), body)
		if gz {
			pr, pw := io.Pipe()
			go func(src io.Reader) {
				zw := gzip.NewWriter(pw)
				_, err := io.Copy(zw, src) // ends when pr is closed
				pw.CloseWithError(err)
			}(r)
			r = pr
			defer pr.Close()
		}
		_, err := readIDXBytes("f", r)
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "more than 4095 trailing bytes after the 2352 data bytes") {
			t.Errorf("gzip %v: error %v, want a *FormatError on trailing bytes", gz, err)
		}
		if max := int64(16 << 20); body.n > max { // the compressor takes ~4 MB of zeros per deflate block
			t.Errorf("gzip %v: read %d bytes of the body, want at most %d", gz, body.n, max)
		}
	}
}
