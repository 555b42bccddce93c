package data

// Encoders of the formats this package reads, for the tests. They live in a
// _test.go file of package data, so package data_test sees them too.

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"strings"
)

// EncodeIDX returns an IDX file of unsigned bytes with dimensions dims.
func EncodeIDX(dims []int, data []byte) []byte {
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

// Gzip returns b gzip-compressed.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// EncodeNPY returns a version 1.0 .npy file as numpy.save writes it: the
// header padded with spaces to a multiple of 64 bytes and ended by '\n'.
// data holds the elements' bytes as they are to be stored.
func EncodeNPY(descr string, fortran bool, shape []int, data []byte) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + dims[0] + ",)"
	}
	order := map[bool]string{false: "False", true: "True"}[fortran]
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, order, tuple)
	h += strings.Repeat(" ", 63-(10+len(h))%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), 0, 0)
	binary.LittleEndian.PutUint16(b[8:], uint16(len(h)))
	return append(append(b, h...), data...)
}

// File is a named file's contents.
type File struct {
	Name string
	Data []byte
}

// Zip returns a zip archive of files, deflated or stored.
func Zip(deflate bool, files ...File) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	method := zip.Store
	if deflate {
		method = zip.Deflate
	}
	for _, f := range files {
		fw, err := w.CreateHeader(&zip.FileHeader{Name: f.Name, Method: method})
		if err != nil {
			panic(err)
		}
		fw.Write(f.Data)
	}
	w.Close()
	return buf.Bytes()
}

// TarGz returns a gzip-compressed tar archive of files, with a directory
// entry for each directory named.
func TarGz(files ...File) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	dirs := map[string]bool{}
	for _, f := range files {
		if i := strings.LastIndexByte(f.Name, '/'); i > 0 && !dirs[f.Name[:i]] {
			dirs[f.Name[:i]] = true
			tw.WriteHeader(&tar.Header{Name: f.Name[:i+1], Typeflag: tar.TypeDir, Mode: 0o755})
		}
		tw.WriteHeader(&tar.Header{Name: f.Name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.Data))})
		tw.Write(f.Data)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// EncodeCIFAR returns CIFAR binary records: for record i, the label bytes
// labels[i] then the 3072 pixel bytes PixelByte(first+i, 0..3071).
func EncodeCIFAR(first int, labels ...[]byte) []byte {
	var b []byte
	for i, l := range labels {
		b = append(b, l...)
		for k := range 3 * 32 * 32 {
			b = append(b, PixelByte(first+i, k))
		}
	}
	return b
}

// PixelByte is the synthetic content of byte k of image i in the test files:
// every image and position differs, and all 256 values occur.
func PixelByte(i, k int) byte { return byte(i*37 + k*11 + k/97) }

// AugmentReference returns the augmentation of src [c, h, w] that
// augmentInto computes, straight from its formula:
//
//	dst[k, i, j] = src[k, i+dy−pad, j′+dx−pad]  (0 outside src),  j′ = w−1−j if flip, else j.
func AugmentReference(src []float32, c, h, w, pad, dy, dx int, flip bool) []float32 {
	dst := make([]float32, len(src))
	for k := range c {
		for i := range h {
			for j := range w {
				jj := j
				if flip {
					jj = w - 1 - j
				}
				y, x := i+dy-pad, jj+dx-pad
				if y >= 0 && y < h && x >= 0 && x < w {
					dst[(k*h+i)*w+j] = src[(k*h+y)*w+x]
				}
			}
		}
	}
	return dst
}
