package attacks_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/taet-ml/taet/attacks"
)

// For a linear classifier z = W·x + b the strongest L∞ attack is known in
// closed form: z_t − z_y is linear in x, so over the box
// [max(0, x−ε), min(1, x+ε)] it is largest at the corner
//
//	x*_j = min(1, x_j+ε) if (w_t − w_y)_j > 0,  max(0, x_j−ε) if < 0,  x_j if = 0
//
// (each pixel on its own; the [0, 1] clipping is part of the box). An
// example can be misclassified within ε iff z_t(x*) > z_y(x*) for some
// t ≠ y. The attacks must reach that optimum.

// corner returns x* for the class pair (y, t) at radius eps, in float32
// as the attacks compute x ± ε.
func corner(m *linear, x []float32, y, t int64, eps float64) []float32 {
	c := make([]float32, len(x))
	e := float32(eps)
	for j, xv := range x {
		switch dw := m.w[int(t)*m.d+j] - m.w[int(y)*m.d+j]; {
		case dw > 0:
			c[j] = min(xv+e, 1)
		case dw < 0:
			c[j] = max(xv-e, 0)
		default:
			c[j] = xv
		}
	}
	return c
}

// bestMargin returns max_{t≠y} z_t(x*_t) − z_y(x*_t): > 0 iff the example
// can be broken at radius eps.
func bestMargin(m *linear, x []float32, y int64, eps float64) float64 {
	best := math.Inf(-1)
	for t := range int64(m.k) {
		if t == y {
			continue
		}
		z, _ := m.forward(corner(m, x, y, t, eps))
		best = max(best, z[t]-z[y])
	}
	return best
}

// breakEps returns the smallest radius at which the example can be broken
// (bisection; bestMargin grows with eps), 1 if none.
func breakEps(m *linear, x []float32, y int64) float64 {
	lo, hi := 0.0, 1.0
	if bestMargin(m, x, y, hi) <= 0 {
		return 1
	}
	for range 40 {
		mid := (lo + hi) / 2
		if bestMargin(m, x, y, mid) > 0 {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

func TestLinearOptimal(t *testing.T) {
	const (
		n, count = 16, 64
		d        = 64 // 1×8×8
	)
	for _, tc := range []struct {
		name    string
		classes int
		attack  func(eps float64) attacks.Attack
		corner  bool // unbroken examples must end exactly on x* (K = 2)
	}{
		{"fgsm/ce", 2, func(eps float64) attacks.Attack { return attacks.FGSM{Eps: eps} }, true},
		{"pgd/ce/none", 2, func(eps float64) attacks.Attack {
			return attacks.PGD{Eps: eps, Alpha: eps / 4, Steps: 10}
		}, true},
		{"pgd/ce/uniform", 2, func(eps float64) attacks.Attack {
			return attacks.PGD{Eps: eps, Alpha: eps / 4, Steps: 10, Start: attacks.StartUniform}
		}, true},
		{"pgd/cw/normal", 2, func(eps float64) attacks.Attack {
			return attacks.PGD{Eps: eps, Alpha: eps / 4, Steps: 10, Start: attacks.StartNormal, Loss: "cw"}
		}, true},
		{"apgd-ce", 2, func(eps float64) attacks.Attack { return attacks.APGD{Eps: eps, Steps: 20} }, false},
		{"apgd-t", 10, func(eps float64) attacks.Attack {
			return attacks.APGD{Eps: eps, Steps: 20, Targets: attacks.AllTargets}
		}, false},
		{"fab-t", 10, func(eps float64) attacks.Attack {
			return attacks.FAB{Eps: eps, Steps: 20, Targets: attacks.AllTargets}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(testSeed(t), 2))
			m := newLinear(rng, d, tc.classes)
			x, y := dataset(rng, m, count, 7)
			need := make([]float64, count)
			for i := range need {
				need[i] = breakEps(m, x[i*d:(i+1)*d], y[i])
			}
			eps := median(need)
			set := oracleSet(m, n, 1e9, gradHonest, nil)
			a := tc.attack(eps)
			checked := [2]int{} // clear cases: robust, breakable
			for lo := 0; lo < count; lo += n {
				xb, yb := x[lo*d:(lo+n)*d], y[lo:lo+n]
				res, err := a.Run(set, xb, yb, attacks.Seeds(1, lo, n))
				if err != nil {
					t.Fatal(err)
				}
				for j := range n {
					i, xi := lo+j, xb[j*d:(j+1)*d]
					// Leave out examples within 2% of their breaking radius.
					clearRobust, clearBroken := need[i] > 1.02*eps, need[i] < 0.98*eps
					broken := res.Pred[j] != yb[j]
					switch {
					case clearRobust && broken:
						t.Errorf("example %d broken at ε = %g, but the optimum needs %g", i, eps, need[i])
					case clearBroken && !broken:
						t.Errorf("example %d robust at ε = %g, but the optimum breaks it from %g", i, eps, need[i])
					}
					if clearRobust {
						checked[0]++
					} else if clearBroken {
						checked[1]++
					}
					if tc.corner && res.Clean[j] == yb[j] && !broken {
						want := corner(m, xi, yb[j], 1-yb[j], eps)
						for p, v := range res.Adv[j*d : (j+1)*d] {
							if math.Abs(float64(v-want[p])) > 1e-6 {
								t.Errorf("example %d pixel %d: %v, optimum %v", i, p, v, want[p])
								break
							}
						}
					}
				}
			}
			if checked[0] < count/4 || checked[1] < count/4 {
				t.Errorf("only %d clearly robust and %d clearly breakable examples of %d", checked[0], checked[1], count)
			}
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestTargetsRankedByCleanLogits builds a linear model whose only way to
// misclassify class 0 within ε is class 9, the lowest-ranked clean
// logit: the targeted attacks must try every target to find it, and
// FAB-T with the runner-up alone cannot move at all (∇(z_1 − z_0) = 0).
func TestTargetsRankedByCleanLogits(t *testing.T) {
	const n, d, k = 2, 16, 10
	m := &linear{d: d, k: k, w: make([]float64, k*d), b: make([]float64, k)}
	for c := 1; c < k-1; c++ {
		m.b[c] = -0.1 - 0.01*float64(c) // constant logits just below class 0's
	}
	for j := range d {
		m.w[(k-1)*d+j] = 1
	}
	m.b[k-1] = -8.5 // z_9 = Σx − 8.5: −0.5 at x = 0.5, +0.3 at x = 0.55
	x := make([]float32, n*d)
	for j := range x {
		x[j] = 0.5
	}
	y := []int64{0, 0}
	set := oracleSet(m, n, 0, gradHonest, nil)
	const eps = 0.05
	for _, tc := range []struct {
		attack attacks.Attack
		broken bool
	}{
		{attacks.APGD{Eps: eps, Steps: 10, Targets: 9}, true},
		{attacks.APGD{Eps: eps, Steps: 10, Targets: attacks.AllTargets}, true},
		{attacks.FAB{Eps: eps, Steps: 10, Targets: 9}, true},
		{attacks.FAB{Eps: eps, Steps: 10, Targets: 1}, false},
	} {
		res, err := tc.attack.Run(set, x, y, attacks.Seeds(1, 0, n))
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if broken := res.Pred[i] != y[i]; broken != tc.broken {
				t.Errorf("%#v: example %d broken = %v, want %v (prediction %d)", tc.attack, i, broken, tc.broken, res.Pred[i])
			}
		}
	}
}
