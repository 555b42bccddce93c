package attacks

import (
	"fmt"
	"math"
)

// Square is the L∞ Square Attack (Andriushchenko et al., 2020), a
// gradient-free random search that reads only logits (it calls Eval with
// grad == nil), as AutoAttack runs it with the margin loss
// m = z_y − max_{j≠y} z_j, which it minimises:
//
//	x̂ = clip_{[0,1]}(x + ε·s),  s = ±1 drawn per channel and column (vertical stripes)
//	for q = 0 … Queries−1, for each example with m(x̂) > 0:
//	    side   = max(round(√(p(q)·H·W)), 1), at most min(H, W) − 1
//	    corner = (U{0 … H−side−1}, U{0 … W−side−1})
//	    x_new  = x̂ with the side×side window of each channel c set to
//	             clip_{[0,1]}(Π_ε(x̂ + 2ε·s_c)),  s_c = ±1
//	    x̂ = x_new if m(x_new) < m(x̂)
//
// p(q) halves from p_init at q' = 10, 50, 200, 500, 1000, 2000, 4000,
// 6000 and 8000, where q' = ⌊q·10000/Queries⌋ (AutoAttack's rescaled
// schedule); the windows never touch the last row and column, as in the
// reference. An example is broken at the first x̂ it finds misclassified.
//
// Unlike AutoAttack, which draws one window position and one set of
// channel signs per iteration for the whole batch, every example draws its
// own (from its seed), so that its result does not depend on its batch;
// the original Square Attack code draws per example as well.
type Square struct {
	// Eps is the L∞ radius ε.
	Eps float64
	// Queries is the number of iterations, one oracle call each (5000 in
	// AutoAttack).
	Queries int
	// PInit is p_init, the initial fraction of pixels a window covers
	// (0 means 0.8).
	PInit float64
	// Shape is the image shape [C, H, W]. Zero means square images with 3
	// channels, or else 1, inferred from the image size.
	Shape [3]int
	// Loss names the oracle whose logits Square reads; "" means "ce". No
	// gradient is asked for, so any loss will do.
	Loss string
}

// Name returns "square".
func (a Square) Name() string { return "square" }

// Losses returns the oracle loss whose logits Square reads.
func (a Square) Losses() []string {
	if a.Loss == "" {
		return []string{"ce"}
	}
	return []string{a.Loss}
}

// Run attacks one batch; see Attack.Run. It costs at most Queries + 3
// oracle calls, none with a gradient, and stops early once every example
// is broken. It returns an error if the image shape is unknown, does not
// match the images, or has H or W below 2.
func (a Square) Run(set OracleSet, x []float32, y []int64, seeds []uint64) (*Result, error) {
	o, err := oracle(a.Name(), set, a.Losses()[0])
	if err != nil {
		return nil, err
	}
	b := newBatch(a.Name(), o, x, y, seeds)
	c, h, w, err := a.shape(b.d)
	if err != nil {
		return nil, err
	}
	pInit := orDefault(a.PInit, 0.8)
	if err := b.start(false); err != nil {
		return nil, err
	}
	eps := float32(a.Eps)
	best := append([]float32(nil), x...)
	for i := range b.n {
		if b.broken[i] {
			continue
		}
		br, xr := b.row(best, i), b.row(x, i)
		for ch := range c {
			for col := range w {
				s := eps * float32(2*b.rng[i].IntN(2)-1)
				for row := range h {
					j := (ch*h+row)*w + col
					br[j] = min(max(xr[j]+s, 0), 1)
				}
			}
		}
	}
	if err := b.eval(best, false); err != nil {
		return nil, err
	}
	b.keep(best)
	marg := make([]float64, b.n)
	for i := range b.n {
		marg[i] = margin(b.logits[i*b.k:(i+1)*b.k], b.y[i])
	}
	next := append([]float32(nil), best...)
	for q := range a.Queries {
		side := max(int(math.Round(math.Sqrt(squareP(q, a.Queries, pInit)*float64(h*w)))), 1)
		side = min(side, h-1, w-1)
		active := false
		for i := range b.n {
			if b.broken[i] || marg[i] <= 0 {
				continue
			}
			active = true
			nr, br, xr := b.row(next, i), b.row(best, i), b.row(x, i)
			copy(nr, br)
			top, left := b.rng[i].IntN(h-side), b.rng[i].IntN(w-side)
			for ch := range c {
				s := 2 * eps * float32(2*b.rng[i].IntN(2)-1)
				for row := top; row < top+side; row++ {
					for col := left; col < left+side; col++ {
						j := (ch*h+row)*w + col
						lo, hi := max(xr[j]-eps, 0), min(xr[j]+eps, 1)
						nr[j] = min(max(br[j]+s, lo), hi)
					}
				}
			}
		}
		if !active {
			break
		}
		if err := b.eval(next, false); err != nil {
			return nil, err
		}
		for i := range b.n {
			if b.broken[i] || marg[i] <= 0 {
				continue
			}
			if m := margin(b.logits[i*b.k:(i+1)*b.k], b.y[i]); m < marg[i] {
				marg[i] = m
				copy(b.row(best, i), b.row(next, i))
			}
		}
		b.keep(next)
	}
	return b.finish(a.Eps)
}

// shape returns C, H, W for images of d values.
func (a Square) shape(d int) (c, h, w int, err error) {
	c, h, w = a.Shape[0], a.Shape[1], a.Shape[2]
	if c == 0 && h == 0 && w == 0 {
		for _, ch := range []int{3, 1} {
			side := int(math.Round(math.Sqrt(float64(d / ch))))
			if d%ch == 0 && side*side == d/ch {
				c, h, w = ch, side, side
				break
			}
		}
		if c == 0 {
			return 0, 0, 0, fmt.Errorf("attacks: square: cannot infer a square image shape from %d values; set Square.Shape", d)
		}
	}
	if c*h*w != d || h < 2 || w < 2 {
		return 0, 0, 0, fmt.Errorf("attacks: square: shape [%d, %d, %d] for images of %d values (want C·H·W = %d, H, W ≥ 2)", c, h, w, d, d)
	}
	return c, h, w, nil
}

// squareP returns p at iteration q of n: p_init halved at the rescaled
// iteration counts 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000.
func squareP(q, n int, pInit float64) float64 {
	it := int(float64(q) / float64(n) * 10000)
	p := pInit
	for _, edge := range []int{10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000} {
		if it > edge {
			p /= 2
		}
	}
	return p
}
