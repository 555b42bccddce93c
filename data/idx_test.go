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
	"github.com/taet-ml/taet/internal/testenv"
)

// idxImages returns an IDX file of n synthetic h×w images, starting at image first.
func idxImages(first, n, h, w int) []byte {
	pix := make([]byte, 0, n*h*w)
	for i := range n {
		for k := range h * w {
			pix = append(pix, data.PixelByte(first+i, k))
		}
	}
	return data.EncodeIDX([]int{n, h, w}, pix)
}

func TestLoadIDX(t *testing.T) {
	images, labels := idxImages(0, 3, 4, 5), data.EncodeIDX([]int{3}, []byte{7, 0, 9})
	for _, tc := range []struct {
		name       string
		gzipImages bool
		gzipLabels bool
	}{
		{"raw", false, false},
		{"gzipped", true, true},
		{"mixed", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im, lb := images, labels
			if tc.gzipImages {
				im = data.Gzip(im)
			}
			if tc.gzipLabels {
				lb = data.Gzip(lb)
			}
			dir := writeFiles(t, t.TempDir(), data.File{Name: "im", Data: im}, data.File{Name: "lb", Data: lb})
			d, err := data.LoadIDX(filepath.Join(dir, "im"), filepath.Join(dir, "lb"), 10)
			if err != nil {
				t.Fatal(err)
			}
			checkImages(t, d, 0, []int64{7, 0, 9})
			if d.C != 1 || d.H != 4 || d.W != 5 || d.Classes != 10 {
				t.Errorf("shape [%d %d %d], %d classes; want [1 4 5], 10", d.C, d.H, d.W, d.Classes)
			}
		})
	}
}

func TestLoadFashionMNIST(t *testing.T) {
	dir := writeFiles(t, t.TempDir(),
		data.File{Name: "train-images-idx3-ubyte.gz", Data: data.Gzip(idxImages(0, 2, 28, 28))},
		data.File{Name: "train-labels-idx1-ubyte.gz", Data: data.Gzip(data.EncodeIDX([]int{2}, []byte{9, 0}))},
		data.File{Name: "t10k-images-idx3-ubyte", Data: idxImages(5, 3, 28, 28)},
		data.File{Name: "t10k-labels-idx1-ubyte", Data: data.EncodeIDX([]int{3}, []byte{1, 2, 3})},
	)
	for _, tc := range []struct {
		dataset, split string
		first          int
		labels         []int64
		name0          string
	}{
		{"fashion-mnist", "train", 0, []int64{9, 0}, "T-shirt/top"},
		{"fashion-mnist", "test", 5, []int64{1, 2, 3}, "T-shirt/top"},
		{"mnist", "test", 5, []int64{1, 2, 3}, ""},
	} {
		t.Run(tc.dataset+"/"+tc.split, func(t *testing.T) {
			d, err := data.Load(tc.dataset, dir, tc.split)
			if err != nil {
				t.Fatal(err)
			}
			checkImages(t, d, tc.first, tc.labels)
			if d.Name != tc.dataset || d.Split != tc.split || d.H != 28 || d.W != 28 {
				t.Errorf("got %s %s %dx%d", d.Name, d.Split, d.H, d.W)
			}
			if name0 := ""; d.ClassNames != nil {
				if name0 = d.ClassNames[0]; name0 != tc.name0 {
					t.Errorf("class 0 is %q, want %q", name0, tc.name0)
				}
			}
		})
	}
	if _, err := data.LoadFashionMNIST(t.TempDir(), "train"); !errors.Is(err, fs.ErrNotExist) ||
		!strings.Contains(err.Error(), "no train-images-idx3-ubyte[.gz]") {
		t.Errorf("empty directory: error %v, want one naming the missing file and wrapping fs.ErrNotExist", err)
	}
}

func TestIDXErrors(t *testing.T) {
	labels3 := data.EncodeIDX([]int{3}, []byte{1, 2, 3})
	images3 := idxImages(0, 3, 2, 2)
	for _, tc := range []struct {
		name           string
		images, labels []byte
		bad            string // "im" or "lb": the file the error must name
		offset         int64  // -2: not a *FormatError
		want           string
	}{
		{"short", []byte{0, 0}, labels3, "im", 0, "shorter than the 4-byte IDX magic"},
		{"magic", []byte("\x89PNG\r\n\x1a\n"), labels3, "im", 0, "magic 0x89504e47 is not IDX"},
		{"element type", append([]byte{0, 0, 0x0d}, images3[3:]...), labels3, "im", 2, "element type 0x0d: want 0x08 (unsigned byte)"},
		{"no dimensions", []byte{0, 0, 8, 0}, labels3, "im", 3, "0 dimensions"},
		{"header truncated", images3[:9], labels3, "im", 9, "ends inside the header: 3 dimensions need 16 header bytes"},
		{"data truncated", images3[:len(images3)-1], labels3, "im", int64(len(images3) - 1), "dimensions [3 2 2] need 12 data bytes, the file has 11"},
		{"trailing", append(slices.Clone(images3), 0), labels3, "im", int64(len(images3)), "1 trailing bytes"},
		{"huge", data.EncodeIDX([]int{1 << 31, 1 << 31, 1 << 31}, nil), labels3, "im", 16, "need more data bytes than the 0"},
		{"images rank", data.EncodeIDX([]int{3, 4}, make([]byte, 12)), labels3, "im", 3, "dimensions [3 4]: want [N, H, W]"},
		{"count mismatch", images3, data.EncodeIDX([]int{2}, []byte{1, 2}), "lb", 3, "labels have dimensions [2]: want [3]"},
		{"label range", images3, data.EncodeIDX([]int{3}, []byte{1, 10, 3}), "lb", 9, "label 10 of image 1 out of range [0, 10)"},
		{"corrupt gzip", images3, data.Gzip(labels3)[:12], "lb", -2, "gunzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, t.TempDir(), data.File{Name: "im", Data: tc.images}, data.File{Name: "lb", Data: tc.labels})
			_, err := data.LoadIDX(filepath.Join(dir, "im"), filepath.Join(dir, "lb"), 10)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Join(dir, tc.bad)) {
				t.Errorf("error %q does not name %s and say %q", err, tc.bad, tc.want)
			}
			var fe *data.FormatError
			if tc.offset != -2 && (!errors.As(err, &fe) || fe.Offset != tc.offset) {
				t.Errorf("error %q: want a *FormatError at offset %d", err, tc.offset)
			}
		})
	}
}

// TestFashionMNISTDebian reads the real data set where Debian's package is
// installed (CI installs it).
func TestFashionMNISTDebian(t *testing.T) {
	if _, err := os.Stat(data.FashionMNISTDebianDir); err != nil {
		testenv.Missing(t, "Fashion-MNIST not installed (%v): run apt-get install dataset-fashion-mnist", err)
	}
	for _, tc := range []struct {
		split     string
		n         int
		labels    []int64 // the first ten
		pixelSum0 int     // Σ bytes of image 0
	}{
		{"train", 60000, []int64{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}, 76247},
		{"test", 10000, []int64{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}, 33456},
	} {
		t.Run(tc.split, func(t *testing.T) {
			d, err := data.LoadFashionMNIST(data.FashionMNISTDebianDir, tc.split)
			if err != nil {
				t.Fatal(err)
			}
			if d.N != tc.n || d.C != 1 || d.H != 28 || d.W != 28 || d.Classes != 10 {
				t.Fatalf("got [%d %d %d %d], %d classes; want [%d 1 28 28], 10", d.N, d.C, d.H, d.W, d.Classes, tc.n)
			}
			if !slices.Equal(d.Labels[:10], tc.labels) {
				t.Errorf("first labels %v, want %v", d.Labels[:10], tc.labels)
			}
			sum := 0
			for _, v := range d.Image(0) {
				sum += int(v*255 + 0.5)
			}
			if sum != tc.pixelSum0 {
				t.Errorf("image 0 sums to %d/255, want %d/255", sum, tc.pixelSum0)
			}
			for _, c := range data.ClassCounts(d.Labels, d.Classes) {
				if c != tc.n/10 {
					t.Fatalf("class counts %v, want %d each", data.ClassCounts(d.Labels, 10), tc.n/10)
				}
			}
			if tc.split != "train" {
				return
			}
			for _, lt := range []struct {
				ir     float64
				counts []int
				total  int
			}{
				{10, []int{6000, 4645, 3596, 2784, 2156, 1669, 1292, 1000, 774, 600}, 24516},
				{100, []int{6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60}, 14886},
			} {
				s, rec, err := data.LongTail(d, lt.ir, 0, 1)
				if err != nil {
					t.Fatal(err)
				}
				if got := data.ClassCounts(s.Labels, 10); !slices.Equal(got, lt.counts) || s.N != lt.total || rec.NMax != 6000 {
					t.Errorf("IR %g: counts %v (%d images, n_max %d), want %v (%d, 6000)", lt.ir, got, s.N, rec.NMax, lt.counts, lt.total)
				}
			}
		})
	}
}
