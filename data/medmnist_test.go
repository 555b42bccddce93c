package data_test

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taet-ml/taet/data"
)

// medImages returns n synthetic images [n, h, w] (c = 0) or [n, h, w, c] as
// .npy data, in C order or Fortran order. Element (i, y, x, k) holds
// PixelByte(i, k·h·w + y·w + x), so that the [N, C, H, W] result compares
// with checkImages.
func medImages(n, h, w, c int, fortran bool) []byte {
	shape := []int{n, h, w, c}
	if c == 0 {
		shape, c = shape[:3], 1
	}
	b := make([]byte, n*h*w*c)
	for i := range n {
		for y := range h {
			for x := range w {
				for k := range c {
					off := ((i*h+y)*w+x)*c + k
					if fortran {
						off = i + n*(y+h*(x+w*k))
					}
					b[off] = data.PixelByte(i, k*h*w+y*w+x)
				}
			}
		}
	}
	return data.EncodeNPY("|u1", fortran, shape, b)
}

// medLabels returns labels as .npy data of dtype descr (integers of 1 to 8
// bytes, either byte order) and the given shape.
func medLabels(descr string, shape []int, labels ...int64) []byte {
	size := int(descr[2] - '0')
	var order binary.AppendByteOrder = binary.LittleEndian
	if descr[0] == '>' {
		order = binary.BigEndian
	}
	var b []byte
	for _, y := range labels {
		switch size {
		case 1:
			b = append(b, byte(y))
		case 2:
			b = order.AppendUint16(b, uint16(y))
		case 4:
			b = order.AppendUint32(b, uint32(y))
		default:
			b = order.AppendUint64(b, uint64(y))
		}
	}
	return data.EncodeNPY(descr, false, shape, b)
}

func TestLoadMedMNIST(t *testing.T) {
	rgbTrain := []data.File{
		{Name: "train_images.npy", Data: medImages(2, 3, 4, 3, false)},
		{Name: "train_labels.npy", Data: medLabels("|u1", []int{2, 1}, 6, 0)},
		{Name: "val_images.npy", Data: medImages(1, 3, 4, 3, false)},
		{Name: "val_labels.npy", Data: medLabels("|u1", []int{1, 1}, 3)},
	}
	for _, tc := range []struct {
		name    string
		file    string
		deflate bool
		members []data.File
		split   string
		c       int
		labels  []int64
		classes int
	}{
		{"rgb/stored", "dermamnist.npz", false, rgbTrain, "train", 3, []int64{6, 0}, 7},
		{"rgb/deflated", "dermamnist.npz", true, rgbTrain, "train", 3, []int64{6, 0}, 7},
		{"rgb/val", "dermamnist.npz", true, rgbTrain, "val", 3, []int64{3}, 7},
		{"gray/int64 [N]", "pneumoniamnist.npz", true, []data.File{
			{Name: "test_images.npy", Data: medImages(3, 5, 2, 0, false)},
			{Name: "test_labels.npy", Data: medLabels("<i8", []int{3}, 1, 0, 1)},
		}, "test", 1, []int64{1, 0, 1}, 2},
		{"fortran/big-endian int32", "bloodmnist_64.npz", false, []data.File{
			{Name: "train_images.npy", Data: medImages(2, 3, 4, 3, true)},
			{Name: "train_labels.npy", Data: medLabels(">i4", []int{2, 1}, 7, 2)},
		}, "train", 3, []int64{7, 2}, 8},
		{"unknown name/uint16", "mymnist.npz", true, []data.File{
			{Name: "train_images.npy", Data: medImages(2, 2, 2, 1, false)},
			{Name: "train_labels.npy", Data: medLabels("<u2", []int{2}, 4, 1)},
		}, "train", 1, []int64{4, 1}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, t.TempDir(), data.File{Name: tc.file, Data: data.Zip(tc.deflate, tc.members...)})
			d, err := data.Load("medmnist", filepath.Join(dir, tc.file), tc.split)
			if err != nil {
				t.Fatal(err)
			}
			checkImages(t, d, 0, tc.labels)
			if want := strings.TrimSuffix(tc.file, ".npz"); d.Name != want || d.Split != tc.split || d.C != tc.c || d.Classes != tc.classes {
				t.Errorf("got %s %s, C = %d, %d classes; want %s %s, C = %d, %d classes", d.Name, d.Split, d.C, d.Classes, want, tc.split, tc.c, tc.classes)
			}
		})
	}
}

func TestMedMNISTErrors(t *testing.T) {
	images := medImages(2, 3, 4, 3, false)
	labels := medLabels("|u1", []int{2, 1}, 6, 0)
	for _, tc := range []struct {
		name    string
		archive []byte
		split   string
		file    string // the *FormatError's File relative to the test directory, or "" for another error
		want    string
	}{
		{"missing split", data.Zip(true, data.File{Name: "train_images.npy", Data: images}, data.File{Name: "train_labels.npy", Data: labels}),
			"val", "dermamnist.npz", "no member val_images.npy (has [train_images.npy train_labels.npy])"},
		{"float images", data.Zip(false, data.File{Name: "train_images.npy", Data: data.EncodeNPY("<f4", false, []int{1}, make([]byte, 4))}, data.File{Name: "train_labels.npy", Data: labels}),
			"train", "dermamnist.npz:train_images.npy", "images have dtype <f4: want uint8"},
		{"5 channels", data.Zip(false, data.File{Name: "train_images.npy", Data: data.EncodeNPY("|u1", false, []int{1, 1, 1, 5}, make([]byte, 5))}, data.File{Name: "train_labels.npy", Data: labels}),
			"train", "dermamnist.npz:train_images.npy", "images have shape [1 1 1 5]: want [N, H, W] or [N, H, W, 3]"},
		{"multi-label", data.Zip(false, data.File{Name: "train_images.npy", Data: images}, data.File{Name: "train_labels.npy", Data: data.EncodeNPY("|u1", false, []int{2, 14}, make([]byte, 28))}),
			"train", "dermamnist.npz:train_labels.npy", "labels have shape [2 14]: want [2, 1] or [2]"},
		{"label range", data.Zip(false, data.File{Name: "train_images.npy", Data: images}, data.File{Name: "train_labels.npy", Data: medLabels("|u1", []int{2, 1}, 6, 7)}),
			"train", "dermamnist.npz:train_labels.npy", "label 7 of image 1 out of range [0, 7) for dermamnist"},
		{"negative label", data.Zip(false, data.File{Name: "train_images.npy", Data: images}, data.File{Name: "train_labels.npy", Data: medLabels("<i8", []int{2}, -1, 0)}),
			"train", "dermamnist.npz:train_labels.npy", "label -1 of image 0 out of range"},
		{"float labels", data.Zip(false, data.File{Name: "train_images.npy", Data: images}, data.File{Name: "train_labels.npy", Data: data.EncodeNPY("<f8", false, []int{2}, make([]byte, 16))}),
			"train", "dermamnist.npz:train_labels.npy", "dtype <f8: want an integer type"},
		{"truncated array", data.Zip(true, data.File{Name: "train_images.npy", Data: images[:len(images)-1]}, data.File{Name: "train_labels.npy", Data: labels}),
			"train", "dermamnist.npz:train_images.npy", "truncated: shape [2 3 4 3] of |u1 needs more than the 71 data bytes present"},
		{"bad header", data.Zip(true, data.File{Name: "train_images.npy", Data: []byte("\x93NUMPY\x01\x00\x04\x00{}  ")}, data.File{Name: "train_labels.npy", Data: labels}),
			"train", "dermamnist.npz:train_images.npy", "header: keys []: want descr, fortran_order and shape"},
		{"not a zip", images, "train", "dermamnist.npz", "not a zip archive"},
		{"bad split", data.Zip(true), "validation", "", `MedMNIST has no split "validation"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, t.TempDir(), data.File{Name: "dermamnist.npz", Data: tc.archive})
			_, err := data.LoadMedMNIST(filepath.Join(dir, "dermamnist.npz"), tc.split)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			var fe *data.FormatError
			if tc.file != "" && (!errors.As(err, &fe) || fe.File != filepath.Join(dir, tc.file)) {
				t.Errorf("error %q: want a *FormatError naming %s", err, tc.file)
			}
		})
	}
}

// TestMedMNISTByFlag reads a file under another name through
// "medmnist:<flag>", which gives the flag's classes and names from
// MedMNIST's INFO table.
func TestMedMNISTByFlag(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), data.File{Name: "copy.npz", Data: data.Zip(true,
		data.File{Name: "test_images.npy", Data: medImages(2, 3, 4, 3, false)},
		data.File{Name: "test_labels.npy", Data: medLabels("|u1", []int{2, 1}, 6, 0)})})
	d, err := data.Load("medmnist:dermamnist", filepath.Join(dir, "copy.npz"), "test")
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "dermamnist" || d.Classes != 7 || len(d.ClassNames) != 7 || d.ClassNames[4] != "melanoma" {
		t.Errorf("got %s, %d classes %q; want dermamnist, 7 classes, class 4 melanoma", d.Name, d.Classes, d.ClassNames)
	}
	if names := data.ClassNames("medmnist:pneumoniamnist"); !slices.Equal(names, []string{"normal", "pneumonia"}) {
		t.Errorf("ClassNames(medmnist:pneumoniamnist) = %q", names)
	}
	if names := data.ClassNamesOf("medmnist", "/x/organsmnist.npz"); len(names) != 11 || names[10] != "spleen" {
		t.Errorf("ClassNamesOf(medmnist, organsmnist.npz) = %q", names)
	}
	if names := data.ClassNamesOf("medmnist", "/x/mine.npz"); names != nil {
		t.Errorf("ClassNamesOf(medmnist, mine.npz) = %q, want nil", names)
	}
	for _, m := range data.MedMNISTSets() {
		if m.Task == "" || len(m.ClassNames) < 2 {
			t.Errorf("%s: task %q, %d class names", m.Flag, m.Task, len(m.ClassNames))
		}
	}
}
