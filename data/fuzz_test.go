package data

import (
	"archive/zip"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Fuzz targets for the decoders: any input either decodes into consistent
// sizes or gives a *FormatError (or an I/O error from gzip, tar or zip)
// naming the file; nothing panics. Run one at a time, e.g.
//
//	go test ./data -run '^$' -fuzz '^FuzzIDX$' -fuzztime 45s
//
// Inputs that failed are kept under testdata/fuzz/<target> and run with
// every `go test`.

// checkFormatError fails unless err is a *FormatError naming file.
func checkFormatError(t *testing.T, err error, file string) {
	var fe *FormatError
	if !errors.As(err, &fe) || !strings.HasPrefix(fe.File, file) {
		t.Fatalf("error %v: want a *FormatError naming %s", err, file)
	}
}

func FuzzIDX(f *testing.F) {
	f.Add(EncodeIDX([]int{2, 3, 3}, make([]byte, 18)))
	f.Add(Gzip(EncodeIDX([]int{4}, []byte{1, 2, 3, 4})))
	f.Add(EncodeIDX([]int{0, 28, 28}, nil))
	f.Add([]byte{0, 0, 8, 3, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		raw, err := readIDXBytes("f", bytes.NewReader(b))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f") {
				t.Fatalf("error %v does not name the file", err)
			}
			return // a gzip error, or too many trailing bytes
		}
		dims, data, err := parseIDX("f", raw)
		if err != nil {
			checkFormatError(t, err, "f")
			return
		}
		n := 1
		for _, d := range dims {
			n *= d
		}
		if n != len(data) || len(dims) == 0 {
			t.Fatalf("dimensions %v but %d elements", dims, len(data))
		}
	})
}

func FuzzNPY(f *testing.F) {
	f.Add(EncodeNPY("|u1", false, []int{2, 3}, make([]byte, 6)))
	f.Add(EncodeNPY("<i8", false, []int{2, 1}, make([]byte, 16)))
	f.Add(EncodeNPY(">u4", true, []int{2, 2, 1}, make([]byte, 16)))
	f.Add(EncodeNPY("|b1", false, nil, []byte{1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseNPY("f.npy", b)
		if err != nil {
			checkFormatError(t, err, "f.npy")
			return
		}
		n := 1
		for _, d := range a.shape {
			n *= d
		}
		if n*a.size != len(a.data) {
			t.Fatalf("shape %v of %s but %d data bytes", a.shape, a.descr, len(a.data))
		}
		if ints, err := a.int64s(); err != nil {
			checkFormatError(t, err, "f.npy")
		} else if len(ints) != n {
			t.Fatalf("%d elements, %d ints", n, len(ints))
		}
	})
}

func FuzzNPZ(f *testing.F) {
	images := EncodeNPY("|u1", false, []int{2, 2, 2, 3}, make([]byte, 24))
	labels := EncodeNPY("|u1", false, []int{2, 1}, []byte{6, 1})
	f.Add(Zip(false, File{"train_images.npy", images}, File{"train_labels.npy", labels}))
	f.Add(Zip(true, File{"test_images.npy", EncodeNPY("|u1", true, []int{1, 2, 2}, make([]byte, 4))},
		File{"test_labels.npy", EncodeNPY("<i8", false, []int{1}, make([]byte, 8))}))
	f.Fuzz(func(t *testing.T, b []byte) {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, split := range []string{"train", "val", "test"} {
			d, err := decodeNPZ("f.npz", zr, "dermamnist", split)
			if err != nil {
				continue // zip, flate or *FormatErrors; the tests check the messages
			}
			if len(d.Images) != d.N*d.ImageSize() || len(d.Labels) != d.N || d.Classes != 7 {
				t.Fatalf("%s: N %d, [%d %d %d], %d floats, %d labels", split, d.N, d.C, d.H, d.W, len(d.Images), len(d.Labels))
			}
			for _, y := range d.Labels {
				if y < 0 || y >= 7 {
					t.Fatalf("label %d accepted", y)
				}
			}
		}
	})
}

func FuzzCIFAR(f *testing.F) {
	f.Add(EncodeCIFAR(0, []byte{3}, []byte{9}))
	f.Add(EncodeCIFAR(0, []byte{19, 99}))
	f.Add(TarGz(File{"cifar-10-batches-bin/test_batch.bin", EncodeCIFAR(0, []byte{3})}))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tc := range []struct {
			f     cifarFormat
			label int
		}{{cifar10Format, 0}, {cifar100Format, 0}, {cifar100Format, 1}} {
			images, labels, err := decodeCIFAR(tc.f, []namedBytes{{"f", b}}, tc.label)
			if err != nil {
				checkFormatError(t, err, "f")
				continue
			}
			if len(images) != len(labels)*cifarPixels || len(labels) != len(b)/(len(tc.f.classes)+cifarPixels) {
				t.Fatalf("%d bytes gave %d labels, %d floats", len(b), len(labels), len(images))
			}
			for _, y := range labels {
				if y < 0 || y >= int64(tc.f.classes[tc.label]) {
					t.Fatalf("label %d accepted", y)
				}
			}
		}
		if files, err := readTarGz(cifar10Format, "f", bytes.NewReader(b), []string{"test_batch.bin"}); err == nil {
			if len(files) != 1 {
				t.Fatalf("%d files", len(files))
			}
			if _, _, err := decodeCIFAR(cifar10Format, files, 0); err != nil {
				checkFormatError(t, err, "f:")
			}
		}
	})
}
