package data_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taet-ml/taet/data"
)

// writeFiles writes files under dir, creating directories, and returns dir.
func writeFiles(t testing.TB, dir string, files ...data.File) string {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// checkImages fails unless d holds images first, first+1, ... of the
// synthetic content (PixelByte), as floats, with the given labels.
func checkImages(t *testing.T, d *data.Dataset, first int, labels []int64) {
	t.Helper()
	if d.N != len(labels) || len(d.Labels) != d.N || len(d.Images) != d.N*d.ImageSize() {
		t.Fatalf("N = %d, %d labels, %d floats; want %d images of %d", d.N, len(d.Labels), len(d.Images), len(labels), d.ImageSize())
	}
	if !slices.Equal(d.Labels, labels) {
		t.Errorf("labels = %v, want %v", d.Labels, labels)
	}
	for i := range d.N {
		for k, v := range d.Image(i) {
			if want := float32(data.PixelByte(first+i, k)) / 255; v != want {
				t.Fatalf("image %d element %d = %v, want %v", i, k, v, want)
			}
		}
	}
}

// cifar10Files returns CIFAR-10 batches under dir: batch b (1..5) holds
// b records (15 images, labels i mod 10) and the test batch 4.
func cifar10Files(dir string) []data.File {
	var files []data.File
	first := 0
	for b := 1; b <= 5; b++ {
		var labels [][]byte
		for i := range b {
			labels = append(labels, []byte{byte((first + i) % 10)})
		}
		files = append(files, data.File{Name: dir + "data_batch_" + string(rune('0'+b)) + ".bin", Data: data.EncodeCIFAR(first, labels...)})
		first += b
	}
	files = append(files, data.File{Name: dir + "test_batch.bin", Data: data.EncodeCIFAR(100, []byte{3}, []byte{9}, []byte{0}, []byte{3})})
	files = append(files, data.File{Name: dir + "batches.meta.txt", Data: []byte("airplane\n")})
	return files
}

func TestLoadCIFAR10(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, filepath.Join(root, "flat"), cifar10Files("")...)
	writeFiles(t, filepath.Join(root, "parent"), cifar10Files("cifar-10-batches-bin/")...)
	archive := data.TarGz(cifar10Files("cifar-10-batches-bin/")...)
	writeFiles(t, filepath.Join(root, "download"), data.File{Name: "cifar-10-binary.tar.gz", Data: archive})
	trainLabels := make([]int64, 15)
	for i := range trainLabels {
		trainLabels[i] = int64(i % 10)
	}
	for _, tc := range []struct{ name, path string }{
		{"batches directory", filepath.Join(root, "flat")},
		{"its parent", filepath.Join(root, "parent")},
		{"archive", filepath.Join(root, "download", "cifar-10-binary.tar.gz")},
		{"archive's directory", filepath.Join(root, "download")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			train, err := data.LoadCIFAR10(tc.path, "train")
			if err != nil {
				t.Fatal(err)
			}
			checkImages(t, train, 0, trainLabels)
			if train.Name != "cifar10" || train.Split != "train" || train.C != 3 || train.H != 32 || train.W != 32 || train.Classes != 10 {
				t.Errorf("got %s %s [%d %d %d] %d classes, want cifar10 train [3 32 32] 10 classes", train.Name, train.Split, train.C, train.H, train.W, train.Classes)
			}
			if train.ClassNames[0] != "airplane" || train.ClassNames[9] != "truck" {
				t.Errorf("class names = %v", train.ClassNames)
			}
			test, err := data.Load("cifar10", tc.path, "test")
			if err != nil {
				t.Fatal(err)
			}
			checkImages(t, test, 100, []int64{3, 9, 0, 3})
		})
	}
}

func TestLoadCIFAR100(t *testing.T) {
	files := func(dir string) []data.File {
		return []data.File{
			{Name: dir + "train.bin", Data: data.EncodeCIFAR(0, []byte{19, 99}, []byte{0, 0}, []byte{4, 30})},
			{Name: dir + "test.bin", Data: data.EncodeCIFAR(50, []byte{7, 61})},
		}
	}
	root := t.TempDir()
	dir := writeFiles(t, filepath.Join(root, "dir"), files("")...)
	archive := writeFiles(t, root, data.File{Name: "c100.tar.gz", Data: data.TarGz(files("cifar-100-binary/")...)})
	for _, tc := range []struct {
		name, path string
		fine       bool
		dataset    string
		train      []int64
		test       []int64
		classes    int
		names      [2]string
	}{
		{"fine/dir", dir, true, "cifar100", []int64{99, 0, 30}, []int64{61}, 100, [2]string{"apple", "worm"}},
		{"coarse/dir", dir, false, "cifar100-coarse", []int64{19, 0, 4}, []int64{7}, 20, [2]string{"aquatic_mammals", "vehicles_2"}},
		{"fine/archive", filepath.Join(archive, "c100.tar.gz"), true, "cifar100", []int64{99, 0, 30}, []int64{61}, 100, [2]string{"apple", "worm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			train, err := data.LoadCIFAR100(tc.path, "train", tc.fine)
			if err != nil {
				t.Fatal(err)
			}
			checkImages(t, train, 0, tc.train)
			test, err := data.Load(tc.dataset, tc.path, "test")
			if err != nil {
				t.Fatal(err)
			}
			checkImages(t, test, 50, tc.test)
			if train.Name != tc.dataset || train.Classes != tc.classes || len(train.ClassNames) != tc.classes ||
				train.ClassNames[0] != tc.names[0] || train.ClassNames[tc.classes-1] != tc.names[1] {
				t.Errorf("%s: %d classes, names %v", train.Name, train.Classes, train.ClassNames)
			}
			if !slices.IsSorted(train.ClassNames) || len(slices.Compact(slices.Clone(train.ClassNames))) != tc.classes {
				t.Errorf("class names not sorted and distinct (as in the meta files): %v", train.ClassNames)
			}
		})
	}
}

func TestCIFARErrors(t *testing.T) {
	good := data.EncodeCIFAR(0, []byte{1}, []byte{2})
	for _, tc := range []struct {
		name   string
		files  []data.File
		path   string // relative to the test directory
		split  string
		file   string // the *FormatError's File, or "" for another error
		offset int64
		want   []string // substrings of the message
	}{
		{
			name:  "truncated",
			files: []data.File{{Name: "test_batch.bin", Data: good[:len(good)-5]}},
			split: "test", file: "test_batch.bin", offset: 3073,
			want: []string{"ends inside record 1", "3073-byte CIFAR-10 records"},
		},
		{
			name:  "empty",
			files: []data.File{{Name: "test_batch.bin"}},
			split: "test", file: "test_batch.bin", offset: -1,
			want: []string{"empty file"},
		},
		{
			name:  "label out of range",
			files: []data.File{{Name: "test_batch.bin", Data: data.EncodeCIFAR(0, []byte{1}, []byte{10})}},
			split: "test", file: "test_batch.bin", offset: 3073,
			want: []string{"record 1: label 10 out of range [0, 10)"},
		},
		{
			name:  "missing batch",
			files: []data.File{{Name: "data_batch_1.bin", Data: good}, {Name: "data_batch_2.bin", Data: good}},
			split: "train",
			want:  []string{"data_batch_3.bin", "no such file"},
		},
		{
			name:  "missing member",
			files: []data.File{{Name: "cifar-10-binary.tar.gz", Data: data.TarGz(data.File{Name: "cifar-10-batches-bin/data_batch_1.bin", Data: good})}},
			path:  "cifar-10-binary.tar.gz", split: "test",
			want: []string{"cifar-10-binary.tar.gz: no member cifar-10-batches-bin/test_batch.bin"},
		},
		{
			name:  "truncated member",
			files: []data.File{{Name: "c.tar.gz", Data: data.TarGz(data.File{Name: "cifar-10-batches-bin/test_batch.bin", Data: good[:3000]})}},
			path:  "c.tar.gz", split: "test", file: "c.tar.gz:cifar-10-batches-bin/test_batch.bin", offset: 0,
			want: []string{"ends inside record 0"},
		},
		{
			name:  "not an archive",
			files: []data.File{{Name: "c.tar.gz", Data: good}},
			path:  "c.tar.gz", split: "test",
			want: []string{"c.tar.gz: want cifar-10-binary.tar.gz, a gzip-compressed tar archive"},
		},
		{
			name:  "no data",
			files: []data.File{{Name: "readme.txt", Data: good}},
			split: "test",
			want:  []string{"no test_batch.bin, cifar-10-batches-bin/ or cifar-10-binary.tar.gz"},
		},
		{
			name:  "bad split",
			files: []data.File{{Name: "test_batch.bin", Data: good}},
			split: "val",
			want:  []string{`CIFAR-10 has no split "val"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, t.TempDir(), tc.files...)
			_, err := data.LoadCIFAR10(filepath.Join(dir, tc.path), tc.split)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			var fe *data.FormatError
			if tc.file == "" {
				return
			}
			if !errors.As(err, &fe) {
				t.Fatalf("error %q is not a *FormatError", err)
			}
			if fe.File != filepath.Join(dir, tc.file) || fe.Offset != tc.offset {
				t.Errorf("FormatError at %s offset %d, want %s offset %d", fe.File, fe.Offset, filepath.Join(dir, tc.file), tc.offset)
			}
		})
	}
}

func TestCIFARMissingIsNotExist(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), data.File{Name: "other.bin", Data: []byte{1}})
	_, err := data.LoadCIFAR100(dir, "train", true)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
}
