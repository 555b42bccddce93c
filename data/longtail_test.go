package data_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/internal/testseed"
)

// testSeed returns a fixed seed, or TAET_TEST_SEED when set; it is logged
// if the test fails.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	return testseed.Get(t, testseed.Default)
}

// balanced returns a data set of classes × perClass images [c, h, w],
// labels cycling through the classes; every element of image i is i, so
// images can be traced through sampling and batching.
func balanced(classes, perClass, c, h, w int) *data.Dataset {
	n := classes * perClass
	d := &data.Dataset{Name: "synthetic", Split: "train", N: n, C: c, H: h, W: w, Classes: classes,
		Images: make([]float32, n*c*h*w), Labels: make([]int64, n)}
	for i := range n {
		d.Labels[i] = int64(i % classes)
		for k := range d.Image(i) {
			d.Image(i)[k] = float32(i)
		}
	}
	return d
}

func sum(xs []int) (s int) {
	for _, x := range xs {
		s += x
	}
	return s
}

func TestLongTailCounts(t *testing.T) {
	for _, tc := range []struct {
		name        string
		nMax, C     int
		ir          float64
		counts      []int // nil: check total only
		total       int
		class, want int // one more class to check: counts[class] == want
	}{
		{"cifar10/IR10", 5000, 10, 10, []int{5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500}, 20431, 0, 5000},
		{"cifar10/IR100", 5000, 10, 100, []int{5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50}, 12406, 0, 5000},
		{"fashion-mnist/IR10", 6000, 10, 10, []int{6000, 4645, 3596, 2784, 2156, 1669, 1292, 1000, 774, 600}, 24516, 0, 6000},
		{"fashion-mnist/IR100", 6000, 10, 100, []int{6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60}, 14886, 0, 6000},
		{"cifar10-test/IR100", 1000, 10, 100, []int{1000, 599, 359, 215, 129, 77, 46, 27, 16, 10}, 2478, 0, 1000},
		{"cifar100/IR10", 500, 100, 10, nil, 19573, 99, 50},
		{"cifar100/IR50", 500, 100, 50, nil, 12608, 99, 10},
		{"cifar100/IR100", 500, 100, 100, nil, 10847, 99, 5},
		{"balanced", 7, 3, 1, []int{7, 7, 7}, 21, 0, 7},
		{"one class", 9, 1, 10, []int{9}, 9, 0, 9},
		// Where math.Pow is an ulp off glibc's pow (values from Python 3).
		{"pow low/8 classes IR128", 6000, 8, 128, nil, 11951, 4, 375},
		{"pow low/16 classes IR32", 6000, 16, 32, nil, 0, 3, 3000},
		{"pow low/6 classes", 71808, 6, 32, nil, 0, 1, 35904},
		{"pow high/100 classes IR2048", 6000, 100, 2048, nil, 0, 36, 374},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := data.LongTailCounts(tc.nMax, tc.C, tc.ir)
			if tc.counts != nil && !slices.Equal(got, tc.counts) {
				t.Errorf("counts %v, want %v", got, tc.counts)
			}
			if tc.total != 0 && sum(got) != tc.total {
				t.Errorf("total %d, want %d", sum(got), tc.total)
			}
			if got[tc.class] != tc.want {
				t.Errorf("class %d keeps %d, want %d", tc.class, got[tc.class], tc.want)
			}
		})
	}
}

func TestLongTailCountsPanics(t *testing.T) {
	for _, tc := range []struct {
		nMax, classes int
		ir            float64
	}{{10, 0, 10}, {-1, 10, 10}, {10, 10, 0.5}, {10, 10, math.NaN()}, {10, 10, math.Inf(1)}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("LongTailCounts(%d, %d, %g) did not panic", tc.nMax, tc.classes, tc.ir)
				}
			}()
			data.LongTailCounts(tc.nMax, tc.classes, tc.ir)
		}()
	}
}

func ExampleLongTailCounts() {
	counts := data.LongTailCounts(5000, 10, 10) // CIFAR-10-LT, IR 10
	fmt.Println(counts, sum(counts))
	// Output: [5000 3871 2997 2320 1796 1391 1077 834 645 500] 20431
}

func TestLongTailCIFAR10Sized(t *testing.T) {
	seed := testSeed(t)
	for _, tc := range []struct {
		ir    float64
		total int
	}{{10, 20431}, {100, 12406}} {
		full := balanced(10, 5000, 1, 1, 1)
		lt, rec, err := data.LongTail(full, tc.ir, 0, seed)
		if err != nil {
			t.Fatal(err)
		}
		if lt.N != tc.total || rec.NMax != 5000 || sum(rec.Counts) != tc.total ||
			!slices.Equal(data.ClassCounts(lt.Labels, 10), rec.Counts) {
			t.Errorf("IR %g: %d images, n_max %d, counts %v; want %d, 5000", tc.ir, lt.N, rec.NMax, rec.Counts, tc.total)
		}
	}
}

func TestLongTail(t *testing.T) {
	seed := testSeed(t)
	full := balanced(5, 40, 1, 2, 2)
	lt, rec, err := data.LongTail(full, 8, 0, seed)
	if err != nil {
		t.Fatal(err)
	}
	want := data.LongTailCounts(40, 5, 8)
	if got := data.ClassCounts(lt.Labels, 5); !slices.Equal(got, want) || !slices.Equal(rec.Counts, want) {
		t.Fatalf("counts %v, record %v, want %v", got, rec.Counts, want)
	}
	// The subset keeps the source's order, images with their labels.
	for i := range lt.N {
		src := int(lt.Image(i)[0])
		if i > 0 && src <= int(lt.Image(i - 1)[0]) {
			t.Fatalf("image %d comes from source %d, after source %d", i, src, int(lt.Image(i - 1)[0]))
		}
		if lt.Labels[i] != full.Labels[src] || !slices.Equal(lt.Image(i), full.Image(src)) {
			t.Fatalf("image %d does not match source image %d", i, src)
		}
	}
	wantRec := data.SplitRecord{Dataset: "synthetic", Split: "train", Method: data.LongTailMethod,
		IR: 8, NMax: 40, Seed: seed, SourceN: 200, Counts: want, IndicesSHA256: rec.IndicesSHA256}
	if !reflect.DeepEqual(rec, wantRec) || len(rec.IndicesSHA256) != 64 {
		t.Errorf("record %+v, want %+v", rec, wantRec)
	}

	t.Run("same seed, same split", func(t *testing.T) {
		again, rec2, err := data.LongTail(full, 8, 0, seed)
		if err != nil || !reflect.DeepEqual(rec, rec2) || !slices.Equal(again.Images, lt.Images) {
			t.Errorf("second draw differs: %+v vs %+v (%v)", rec2, rec, err)
		}
	})
	t.Run("other seed, other images", func(t *testing.T) {
		_, rec2, err := data.LongTail(full, 8, 0, seed+1)
		if err != nil || rec2.IndicesSHA256 == rec.IndicesSHA256 || !slices.Equal(rec2.Counts, rec.Counts) {
			t.Errorf("seed %d: %+v, seed %d: %+v (%v)", seed, rec, seed+1, rec2, err)
		}
	})
	t.Run("json and rebuild", func(t *testing.T) {
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{`"dataset":"synthetic"`, `"split":"train"`, `"ir":8`, `"n_max":40`, `"seed":`, `"counts":[`, `"indices_sha256":"`, `"method":"`, `"source_n":200`} {
			if !strings.Contains(string(b), key) {
				t.Errorf("JSON %s lacks %s", b, key)
			}
		}
		var back data.SplitRecord
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		rebuilt, err := back.Rebuild(full)
		if err != nil || !slices.Equal(rebuilt.Images, lt.Images) || !slices.Equal(rebuilt.Labels, lt.Labels) {
			t.Errorf("Rebuild: %v", err)
		}
	})
	t.Run("rebuild mismatches", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			edit   func(r *data.SplitRecord)
			source *data.Dataset
			want   string
		}{
			{"method", func(r *data.SplitRecord) { r.Method = "numpy-legacy" }, full, `recorded method "numpy-legacy"`},
			{"dataset", func(r *data.SplitRecord) { r.Dataset = "cifar10" }, full, "source is synthetic train"},
			{"source size", func(r *data.SplitRecord) {}, balanced(5, 41, 1, 2, 2), "source has 205 images, recorded 200"},
			{"counts", func(r *data.SplitRecord) { r.Counts = slices.Clone(r.Counts); r.Counts[4]++ }, full, "counts"},
			{"hash", func(r *data.SplitRecord) { r.IndicesSHA256 = strings.Repeat("0", 64) }, full, "kept indices hash to"},
			{"relabelled source", func(r *data.SplitRecord) {}, relabel(full), "kept indices hash to"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := rec
				tc.edit(&r)
				_, err := r.Rebuild(tc.source)
				if !errors.Is(err, data.ErrSplitMismatch) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want ErrSplitMismatch saying %q", err, tc.want)
				}
			})
		}
	})
}

// relabel returns a copy of d with its labels in reverse order: the same
// counts, other images in each class.
func relabel(d *data.Dataset) *data.Dataset {
	r := *d
	r.Labels = slices.Clone(d.Labels)
	slices.Reverse(r.Labels)
	return &r
}

func TestLongTailErrors(t *testing.T) {
	full := balanced(4, 10, 1, 1, 1)
	for _, tc := range []struct {
		name string
		ir   float64
		nMax int
		want string
	}{
		{"IR below 1", 0.5, 0, "imbalance ratio 0.5: want a finite number ≥ 1"},
		{"IR NaN", math.NaN(), 0, "imbalance ratio NaN"},
		{"IR Inf", math.Inf(1), 0, "imbalance ratio +Inf"},
		{"too few images", 10, 11, "class 0 has 10 images, IR 10 with n_max 11 needs 11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := data.LongTail(full, tc.ir, tc.nMax, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestClassStatistics(t *testing.T) {
	for _, tc := range []struct {
		name                string
		counts              []int
		ir                  float64
		head, medium, tails []int
	}{
		{"cifar10-lt", data.LongTailCounts(5000, 10, 100), 100, []int{0, 1, 2}, []int{3, 4, 5, 6}, []int{7, 8, 9}},
		{"ranked by count", []int{10, 400, 30, 20, 5, 80, 30}, 80, []int{1, 5}, []int{2, 6, 3}, []int{0, 4}},
		{"two classes", []int{3, 6}, 2, []int{}, []int{1, 0}, []int{}},
		{"empty class", []int{3, 0, 1}, math.Inf(1), []int{0}, []int{2}, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var labels []int64
			for c, n := range tc.counts {
				for range n {
					labels = append(labels, int64(c))
				}
			}
			if got := data.ClassCounts(labels, len(tc.counts)); !slices.Equal(got, tc.counts) {
				t.Errorf("ClassCounts = %v, want %v", got, tc.counts)
			}
			if got := data.ImbalanceRatio(tc.counts); got != tc.ir {
				t.Errorf("ImbalanceRatio = %v, want %v", got, tc.ir)
			}
			h, m, l := data.Groups(tc.counts)
			if !slices.Equal(h, tc.head) || !slices.Equal(m, tc.medium) || !slices.Equal(l, tc.tails) {
				t.Errorf("Groups = %v %v %v, want %v %v %v", h, m, l, tc.head, tc.medium, tc.tails)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Error("ClassCounts with label 3 of 3 classes did not panic")
		}
	}()
	data.ClassCounts([]int64{0, 3}, 3)
}

func TestLoadNames(t *testing.T) {
	for _, name := range append(data.Names(), "medmnist:dermamnist", "medmnist:pathmnist") {
		if len(data.Splits(name)) == 0 {
			t.Errorf("%s has no splits", name)
		}
	}
	for _, tc := range []struct{ name, split, want string }{
		{"imagenet", "train", `unknown data set "imagenet"`},
		{"cifar10", "val", `cifar10 has no split "val"`},
		{"medmnist:chestmnist", "train", "MedMNIST chestmnist is multi-label"},
		{"medmnist:organmnist3d", "train", "MedMNIST organmnist3d is 3-D"},
		{"medmnist:nosuchmnist", "train", `no MedMNIST v2 data set "nosuchmnist"`},
	} {
		if _, err := data.Load(tc.name, t.TempDir(), tc.split); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s, %s): error %v, want %q", tc.name, tc.split, err, tc.want)
		}
	}
}

// TestLongTailGolden pins the selection algorithm. If it fails, the
// algorithm changed: give it a new LongTailMethod, or recorded splits
// rebuild into other images.
func TestLongTailGolden(t *testing.T) {
	_, rec, err := data.LongTail(balanced(5, 40, 1, 1, 1), 8, 0, 1)
	if want := "a28e274d80c1c2614c47c783162cd692da30bed25bc8ebc274b07aede81b44dd"; err != nil || rec.IndicesSHA256 != want {
		t.Errorf("indices hash %s (%v), want %s", rec.IndicesSHA256, err, want)
	}
}
