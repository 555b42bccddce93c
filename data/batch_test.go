package data_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/taet-ml/taet/data"
)

// varied returns n images [c, h, w] whose elements all differ (image i,
// element k holds 1 + i·c·h·w + k), labels i mod classes.
func varied(n, classes, c, h, w int) *data.Dataset {
	d := &data.Dataset{Name: "varied", Split: "train", N: n, C: c, H: h, W: w, Classes: classes,
		Images: make([]float32, n*c*h*w), Labels: make([]int64, n)}
	for i := range d.Images {
		d.Images[i] = float32(1 + i)
	}
	for i := range d.Labels {
		d.Labels[i] = int64(i % classes)
	}
	return d
}

// pass is every batch of a pass, concatenated.
type pass struct {
	x     []float32
	y     []int64
	sizes []int
}

func drain(b *data.Batches, batchSize, imageSize int) pass {
	x, y := make([]float32, batchSize*imageSize), make([]int64, batchSize)
	var p pass
	for n := b.Next(x, y); n > 0; n = b.Next(x, y) {
		p.x = append(p.x, x[:n*imageSize]...)
		p.y = append(p.y, y[:n]...)
		p.sizes = append(p.sizes, n)
	}
	return p
}

func TestEvalBatches(t *testing.T) {
	ds := varied(12, 3, 2, 3, 3)
	b := data.EvalBatches(ds, 5)
	if b.Len() != 3 {
		t.Errorf("Len = %d, want 3", b.Len())
	}
	x, y := make([]float32, 5*ds.ImageSize()), make([]int64, 5)
	var got []float32
	for i, want := range []int{5, 5, 2, 0, 0} {
		for k := range x {
			x[k] = -1
		}
		n := b.Next(x, y)
		if n != want {
			t.Fatalf("batch %d has %d images, want %d", i, n, want)
		}
		if n > 0 && !slices.Equal(y[:n], ds.Labels[5*i:5*i+n]) {
			t.Errorf("batch %d labels %v, want %v", i, y[:n], ds.Labels[5*i:5*i+n])
		}
		if n > 0 && x[n*ds.ImageSize()-1] == -1 || n < 5 && x[n*ds.ImageSize()] != -1 {
			t.Errorf("batch %d: wrote the wrong part of x", i)
		}
		got = append(got, x[:n*ds.ImageSize()]...)
	}
	if !slices.Equal(got, ds.Images) {
		t.Error("evaluation batches are not the data set in order")
	}
}

func TestTrainBatches(t *testing.T) {
	seed := testSeed(t)
	ds := varied(103, 10, 3, 8, 8)
	const bs = 10
	epoch := func(seed uint64, e int) pass {
		return drain(data.TrainBatches(ds, bs, data.CIFARAugment, seed, e), bs, ds.ImageSize())
	}
	p := epoch(seed, 3)

	t.Run("full batches only", func(t *testing.T) {
		if n := data.TrainBatches(ds, bs, data.CIFARAugment, seed, 3).Len(); n != 10 {
			t.Errorf("Len = %d, want 10", n)
		}
		if !slices.Equal(p.sizes, slices.Repeat([]int{bs}, 10)) {
			t.Errorf("batch sizes %v, want 10 batches of 10 (3 images dropped)", p.sizes)
		}
	})
	t.Run("each image once, augmented, with its label", func(t *testing.T) {
		is := ds.ImageSize()
		seen := map[int]bool{}
		offsets := map[[3]int]bool{}
		for k := range len(p.y) {
			src, how, ok := identify(ds, p.x[k*is:(k+1)*is])
			if !ok {
				t.Fatalf("image %d of the epoch is no crop/flip of any source image", k)
			}
			if seen[src] {
				t.Errorf("source image %d served twice", src)
			}
			seen[src] = true
			offsets[how] = true
			if p.y[k] != ds.Labels[src] {
				t.Errorf("image %d (source %d) has label %d, want %d", k, src, p.y[k], ds.Labels[src])
			}
		}
		if len(offsets) < 50 {
			t.Errorf("only %d distinct (dy, dx, flip) of 162 in 100 images", len(offsets))
		}
	})
	t.Run("same seed and epoch, same batches", func(t *testing.T) {
		epoch(seed, 0) // history must not matter: resuming at epoch 3 draws epoch 3
		q := epoch(seed, 3)
		if !slices.Equal(p.x, q.x) || !slices.Equal(p.y, q.y) {
			t.Error("epoch 3 drawn twice differs")
		}
	})
	t.Run("other epoch or seed, other batches", func(t *testing.T) {
		for _, q := range []pass{epoch(seed, 4), epoch(seed+1, 3)} {
			if slices.Equal(p.y, q.y) || slices.Equal(p.x, q.x) {
				t.Error("a different epoch or seed gave the same batches")
			}
		}
	})
	t.Run("same order, different augmentation per epoch", func(t *testing.T) {
		small := varied(1, 1, 3, 8, 8)
		a := drain(data.TrainBatches(small, 1, data.CIFARAugment, seed, 0), 1, small.ImageSize())
		differs := false
		for e := 1; e < 8 && !differs; e++ {
			b := drain(data.TrainBatches(small, 1, data.CIFARAugment, seed, e), 1, small.ImageSize())
			differs = !slices.Equal(a.x, b.x)
		}
		if !differs {
			t.Error("one image got the same augmentation in 8 epochs")
		}
	})
	t.Run("no augmentation", func(t *testing.T) {
		q := drain(data.TrainBatches(ds, bs, data.Augment{}, seed, 3), bs, ds.ImageSize())
		for k := range q.y {
			img := q.x[k*ds.ImageSize() : (k+1)*ds.ImageSize()]
			src := int(img[0]-1) / ds.ImageSize()
			if !slices.Equal(img, ds.Image(src)) {
				t.Fatalf("image %d is not a copy of source %d", k, src)
			}
		}
	})
}

// TestCIFARAugmentIsTorchvisions: CIFARAugment is torchvision's
// RandomCrop(size, padding=4) (zero fill) then RandomHorizontalFlip(p=0.5):
// over 3,600 augmented images every crop offset dy, dx ∈ [0, 8] is drawn
// about 1/9 of the time and the flip about half of the time (each bound is
// more than 5 standard deviations wide). TestAugmentInto checks the zero
// padding and the pixels of each (dy, dx, flip).
func TestCIFARAugmentIsTorchvisions(t *testing.T) {
	if data.CIFARAugment != (data.Augment{Pad: 4, Flip: true}) {
		t.Fatalf("CIFARAugment = %+v, want pad 4 and flip", data.CIFARAugment)
	}
	ds := varied(360, 10, 1, 8, 8)
	var dy, dx [9]int
	flips, total := 0, 0
	for e := range 10 {
		p := drain(data.TrainBatches(ds, 40, data.CIFARAugment, testSeed(t), e), 40, ds.ImageSize())
		for k := range p.y {
			_, how, ok := identify(ds, p.x[k*ds.ImageSize():(k+1)*ds.ImageSize()])
			if !ok {
				t.Fatalf("epoch %d, image %d: no crop/flip of a source image", e, k)
			}
			dy[how[0]]++
			dx[how[1]]++
			flips += how[2]
			total++
		}
	}
	if total != 3600 || flips < 1650 || flips > 1950 { // 1800 ± 5σ (σ 30)
		t.Errorf("%d of %d images flipped, want about half", flips, total)
	}
	for o := range 9 {
		if dy[o] < 300 || dy[o] > 500 || dx[o] < 300 || dx[o] > 500 { // 400 ± 5σ (σ 19)
			t.Errorf("offset %d: drawn %d times as dy, %d as dx of %d, want about 400", o, dy[o], dx[o], total)
		}
	}
}

// identify returns the source image of ds that img augments, and how:
// (dy, dx, flip).
func identify(ds *data.Dataset, img []float32) (src int, how [3]int, ok bool) {
	var v float32
	for _, x := range img {
		if x != 0 {
			v = x
			break
		}
	}
	src = int(v-1) / ds.ImageSize()
	for dy := range 9 {
		for dx := range 9 {
			for f, flip := range []bool{false, true} {
				if slices.Equal(img, data.AugmentReference(ds.Image(src), ds.C, ds.H, ds.W, 4, dy, dx, flip)) {
					return src, [3]int{dy, dx, f}, true
				}
			}
		}
	}
	return 0, how, false
}

func TestNextAllocatesNothing(t *testing.T) {
	ds := varied(64, 10, 3, 32, 32)
	x, y := make([]float32, 8*ds.ImageSize()), make([]int64, 8)
	b := data.TrainBatches(ds, 8, data.CIFARAugment, 1, 0)
	if a := testing.AllocsPerRun(7, func() { b.Next(x, y) }); a != 0 {
		t.Errorf("Next allocates %v times per batch", a)
	}
}

func TestBatchesPanics(t *testing.T) {
	ds := varied(4, 2, 1, 2, 2)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"train batch size 0", func() { data.TrainBatches(ds, 0, data.Augment{}, 1, 0) }},
		{"eval batch size 0", func() { data.EvalBatches(ds, 0) }},
		{"short x", func() { data.EvalBatches(ds, 2).Next(make([]float32, 7), make([]int64, 2)) }},
		{"short y", func() { data.EvalBatches(ds, 2).Next(make([]float32, 8), make([]int64, 1)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f()
		})
	}
}

// TestTrainBatchesGolden pins the epoch shuffle, so that a Go release or a
// refactoring cannot silently change the batches a seed gives.
func TestTrainBatchesGolden(t *testing.T) {
	ds := varied(10, 10, 1, 1, 1)
	x, y := make([]float32, 10), make([]int64, 10)
	data.TrainBatches(ds, 10, data.Augment{}, 1, 0).Next(x, y)
	if want := []int64{5, 0, 6, 3, 4, 8, 1, 9, 2, 7}; !slices.Equal(y, want) {
		t.Errorf("epoch 0 of seed 1 serves %v, want %v", y, want)
	}
}

func ExampleTrainBatches() {
	ds := varied(300, 10, 3, 32, 32) // stands for a loaded split, e.g. data.LoadCIFAR10(dir, "train")
	const batchSize = 128
	// Buffers allocated once, e.g. bound to the runtime's input tensors.
	x, y := make([]float32, batchSize*ds.ImageSize()), make([]int64, batchSize)
	for epoch := range 2 {
		batches := data.TrainBatches(ds, batchSize, data.CIFARAugment, 42, epoch)
		for n := batches.Next(x, y); n > 0; n = batches.Next(x, y) {
			fmt.Println("epoch", epoch, "train batch of", n) // a training step on x, y
		}
	}
	eval := data.EvalBatches(ds, batchSize)
	for n := eval.Next(x, y); n > 0; n = eval.Next(x, y) {
		fmt.Println("eval batch of", n) // predictions for x[:n·C·H·W]
	}
	// Output:
	// epoch 0 train batch of 128
	// epoch 0 train batch of 128
	// epoch 1 train batch of 128
	// epoch 1 train batch of 128
	// eval batch of 128
	// eval batch of 128
	// eval batch of 44
}
