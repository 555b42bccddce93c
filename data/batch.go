package data

import "fmt"

// Augment is the training-time augmentation of an image [C, H, W]: a
// random H×W crop of the image zero-padded by Pad pixels on every side,
// then, if Flip, a horizontal flip with probability ½. The zero value
// leaves images as they are.
type Augment struct {
	Pad  int
	Flip bool
}

// CIFARAugment is the augmentation of TAET and its baselines (and of
// torchvision's RandomCrop(32, padding=4) then RandomHorizontalFlip()).
var CIFARAugment = Augment{Pad: 4, Flip: true}

// Batches is one pass over a Dataset in batches of a fixed size. It is not
// safe for concurrent use.
type Batches struct {
	ds    *Dataset
	order []int // image indices in pass order
	size  int
	pos   int // next position in order
	aug   Augment
	src   source // draws the augmentation
}

// TrainBatches returns epoch epoch of training on ds: the images in a
// seeded random order, augmented by aug, in batches of batchSize. The last
// partial batch is dropped (N mod batchSize images, different ones each
// epoch), so every batch is full and one graph with a static batch
// dimension serves the whole epoch.
//
// The pass depends only on (ds, batchSize, aug, seed, epoch), so resuming
// at epoch k redraws epoch k's batches exactly. One generator,
// rand.NewPCG(seed, streamEpoch ^ epoch), first shuffles 0..N−1 by
// Fisher–Yates (as LongTail does), then draws for each image served, in
// order: the crop offsets dy, dx uniform in [0, 2·Pad] (if Pad > 0) and the
// flip, uniform in {0, 1} (if Flip).
//
// It panics if batchSize < 1.
func TrainBatches(ds *Dataset, batchSize int, aug Augment, seed uint64, epoch int) *Batches {
	if batchSize < 1 {
		panic(fmt.Sprintf("data: TrainBatches: batch size %d < 1", batchSize))
	}
	b := &Batches{ds: ds, order: identity(ds.N), size: batchSize, aug: aug,
		src: newSource(seed, streamEpoch^uint64(epoch))}
	b.src.shuffle(b.order)
	b.order = b.order[:ds.N/batchSize*batchSize]
	return b
}

// EvalBatches returns ds in its order, not augmented, in batches of
// batchSize; the last batch holds the N mod batchSize images left, if any.
// It panics if batchSize < 1.
func EvalBatches(ds *Dataset, batchSize int) *Batches {
	if batchSize < 1 {
		panic(fmt.Sprintf("data: EvalBatches: batch size %d < 1", batchSize))
	}
	return &Batches{ds: ds, order: identity(ds.N), size: batchSize}
}

func identity(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

// Len returns the number of batches in the pass.
func (b *Batches) Len() int { return (len(b.order) + b.size - 1) / b.size }

// Next writes the next batch into the caller's buffers, which it does not
// retain: the images as [n, C, H, W] into x[:n·C·H·W] and their labels into
// y[:n]. It returns n, the batch size except for a short last evaluation
// batch, and 0 once the pass is over. Elements of x and y past the batch
// are left as they were. Next allocates nothing; it panics if x is shorter
// than batchSize·C·H·W or y shorter than batchSize.
func (b *Batches) Next(x []float32, y []int64) int {
	is := b.ds.ImageSize()
	if len(x) < b.size*is || len(y) < b.size {
		panic(fmt.Sprintf("data: Batches.Next: buffers of %d images and %d labels, want %d×%d and %d",
			len(x)/max(is, 1), len(y), b.size, is, b.size))
	}
	n := min(b.size, len(b.order)-b.pos)
	p := b.aug.Pad
	for k, i := range b.order[b.pos : b.pos+n] {
		dst := x[k*is : (k+1)*is]
		if b.aug == (Augment{}) {
			copy(dst, b.ds.Image(i))
		} else {
			dy, dx := p, p
			if p > 0 {
				dy, dx = b.src.intN(2*p+1), b.src.intN(2*p+1)
			}
			flip := b.aug.Flip && b.src.intN(2) == 1
			augmentInto(dst, b.ds.Image(i), b.ds.C, b.ds.H, b.ds.W, p, dy, dx, flip)
		}
		y[k] = b.ds.Labels[i]
	}
	b.pos += n
	return n
}

// augmentInto writes into dst the crop of src, both [c, h, w], zero-padded
// by pad at offset (dy, dx) ∈ [0, 2·pad]², flipped horizontally if flip:
//
//	dst[k, i, j] = src[k, i+dy−pad, j′+dx−pad]  (0 outside src),  j′ = w−1−j if flip, else j.
func augmentInto(dst, src []float32, c, h, w, pad, dy, dx int, flip bool) {
	oy, ox := dy-pad, dx-pad
	lo, hi := max(0, -ox), min(w, w-ox) // crop columns j with a source column j+ox
	if lo > hi {
		lo, hi = 0, 0
	}
	for k := range c {
		for i := range h {
			d := dst[(k*h+i)*w : (k*h+i+1)*w]
			sy := i + oy
			if sy < 0 || sy >= h || lo == hi {
				clear(d)
				continue
			}
			s := src[(k*h+sy)*w : (k*h+sy+1)*w]
			if !flip {
				clear(d[:lo])
				copy(d[lo:hi], s[lo+ox:hi+ox])
				clear(d[hi:])
				continue
			}
			// d[j] = crop[w−1−j]: crop column w−1−j ∈ [lo, hi) ⇔ j ∈ [w−hi, w−lo).
			clear(d[:w-hi])
			for j := w - hi; j < w-lo; j++ {
				d[j] = s[w-1-j+ox]
			}
			clear(d[w-lo:])
		}
	}
}
