package attacks

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// gain returns max over ‖d‖_∞ ≤ r, p + d ∈ [0, 1]^D of s·w·d:
// Σ_j |w_j|·min(r, room_j), the quantity projectLinf inverts.
func gain(p, w []float32, s, r float64) float64 {
	g := 0.0
	for j := range w {
		room := float64(p[j])
		if s*float64(w[j]) > 0 {
			room = 1 - float64(p[j])
		}
		g += math.Abs(float64(w[j])) * min(r, room)
	}
	return g
}

// TestProjectLinf checks projectLinf against its definition: the step
// reaches the hyperplane inside the box, and no smaller L∞ radius could
// (the reachable change at 0.999·r falls short), on random problems with
// saturated pixels and zero weights; and the fallbacks.
func TestProjectLinf(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const dim = 30
	sc := newProjScratch(dim)
	d := make([]float64, dim)
	feasible, unreachable := 0, 0
	for trial := range 500 {
		p, w := make([]float32, dim), make([]float32, dim)
		for j := range p {
			p[j] = float32(rng.Float64())
			if rng.IntN(8) == 0 {
				p[j] = float32(rng.IntN(2))
			}
			if rng.IntN(6) > 0 {
				w[j] = float32(rng.NormFloat64())
			}
		}
		wp := 0.0
		for j := range w {
			wp += float64(w[j]) * float64(p[j])
		}
		scale := 2.0
		if trial%4 == 0 {
			scale = 30 // mostly out of the box's reach
		}
		h := wp + rng.NormFloat64()*scale
		projectLinf(d, p, w, h, sc)
		s := 1.0
		if h < wp {
			s = -1
		}
		r := normInf(d)
		if gain(p, w, s, math.Inf(1)) < math.Abs(h-wp) {
			// Out of reach: the unconstrained L∞ projection.
			l1 := 0.0
			for _, v := range w {
				l1 += math.Abs(float64(v))
			}
			if math.Abs(r-math.Abs(h-wp)/l1) > 1e-9 {
				t.Errorf("trial %d: unreachable, ‖d‖ = %g, want %g", trial, r, math.Abs(h-wp)/l1)
			}
			unreachable++
			continue
		}
		feasible++
		reach := 0.0
		for j := range d {
			v := float64(p[j]) + d[j]
			if v < -1e-12 || v > 1+1e-12 || (w[j] == 0 && d[j] != 0) {
				t.Fatalf("trial %d: pixel %d moves to %g (w = %g)", trial, j, v, w[j])
			}
			reach += float64(w[j]) * v
		}
		if math.Abs(reach-h) > 1e-9*(1+math.Abs(h)) {
			t.Errorf("trial %d: w·(p+d) = %g, want %g", trial, reach, h)
		}
		if gain(p, w, s, 0.999*r) >= math.Abs(h-wp) {
			t.Errorf("trial %d: radius %g is not the smallest", trial, r)
		}
	}
	if feasible < 100 || unreachable < 50 {
		t.Errorf("%d feasible and %d unreachable trials", feasible, unreachable)
	}
	p := []float32{0.5, 0.5}
	for _, w := range [][]float32{{0, 0}, {1, -1}} {
		projectLinf(d[:2], p, w, 0, sc) // w = 0, or p already on the hyperplane
		if d[0] != 0 || d[1] != 0 {
			t.Errorf("w = %v: d = %v, want 0", w, d[:2])
		}
	}
}

func TestSquareSchedule(t *testing.T) {
	for _, tc := range []struct {
		q, n int
		want float64
	}{
		{0, 10000, 0.8}, {10, 10000, 0.8}, {11, 10000, 0.4}, {51, 10000, 0.2},
		{8001, 10000, 0.8 / 512}, {5, 5000, 0.8}, {6, 5000, 0.4}, {4999, 5000, 0.8 / 512},
	} {
		if got := squareP(tc.q, tc.n, 0.8); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("squareP(%d, %d) = %g, want %g", tc.q, tc.n, got, tc.want)
		}
	}
}

func TestLossValue(t *testing.T) {
	z := []float32{1, 4, 2, 3, 0}
	for _, tc := range []struct {
		loss string
		y, t int64
		want float64
	}{
		{"ce", 1, -1, math.Log(math.Exp(1)+math.Exp(4)+math.Exp(2)+math.Exp(3)+1) - 4},
		{"dlr", 1, -1, -(4 - 3) / (4 - 2 + 1e-12)},
		{"dlr", 2, -1, -(2 - 4) / (4 - 2 + 1e-12)},
		{"dlr-targeted", 1, 4, -(4 - 0) / (4 - (2+1)/2.0 + 1e-12)},
	} {
		got, err := lossValue(tc.loss, z, tc.y, tc.t)
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s(y=%d, t=%d) = %g, %v; want %g", tc.loss, tc.y, tc.t, got, err, tc.want)
		}
	}
	if _, err := lossValue("cw", z, 0, 0); err == nil {
		t.Error("lossValue(cw) did not fail")
	}
	if _, err := lossValue("dlr-targeted", z[:3], 0, 1); err == nil {
		t.Error("targeted DLR on 3 classes did not fail")
	}
}

func TestSeeds(t *testing.T) {
	a, b := Seeds(1, 0, 10), Seeds(1, 5, 5)
	seen := map[uint64]bool{}
	for i, s := range a {
		if i >= 5 && b[i-5] != s {
			t.Errorf("Seeds(1, 5, 5)[%d] = %d, Seeds(1, 0, 10)[%d] = %d", i-5, b[i-5], i, s)
		}
		seen[s] = true
	}
	for _, s := range Seeds(2, 0, 10) {
		seen[s] = true
	}
	if len(seen) != 20 {
		t.Errorf("%d distinct seeds of 20", len(seen))
	}
}

// fixedOracle predicts class 0 for every image.
type fixedOracle struct{ n int }

func (o fixedOracle) Batch() int   { return o.n }
func (o fixedOracle) Classes() int { return 2 }
func (o fixedOracle) Loss() string { return "ce" }
func (o fixedOracle) Eval(x []float32, y, target []int64, logits, grad []float32) error {
	for i := range o.n {
		logits[2*i], logits[2*i+1] = 1, 0
	}
	return nil
}

// TestFinishChecks tampers with an attack's adversarial batch: pixels
// outside [0, 1], NaN, beyond ε, and a false claim.
func TestFinishChecks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(b *batch)
		want   error
	}{
		{"above one", func(b *batch) { b.adv[1] = 1.0001 }, ErrOutOfBounds},
		{"negative", func(b *batch) { b.adv[2] = -1e-7 }, ErrOutOfBounds},
		{"NaN", func(b *batch) { b.adv[0] = float32(math.NaN()) }, ErrOutOfBounds},
		{"beyond ε", func(b *batch) { b.adv[3] += 0.1 + 2*Tolerance }, ErrOutOfBounds},
		{"within tolerance", func(b *batch) { b.adv[3] += 0.1 + Tolerance/2 }, nil},
		{"false claim", func(b *batch) { b.broken[1] = true }, ErrUnverified},
		{"untouched", func(b *batch) {}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := []float32{0.2, 0.5, 0.0, 0.7}
			b := newBatch("test", fixedOracle{2}, x, []int64{0, 0}, Seeds(1, 0, 2))
			tc.tamper(b)
			_, err := b.finish(0.1)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("finish: %v, want %v", err, tc.want)
			}
		})
	}
}
