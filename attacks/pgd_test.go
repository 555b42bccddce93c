package attacks_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/taet-ml/taet/attacks"
)

// TestPGDMoreStepsNeverWeaker runs PGD with more and more steps on a
// nonlinear net with the same seeds: every example broken with fewer steps
// stays broken with more, so robust accuracy never rises.
func TestPGDMoreStepsNeverWeaker(t *testing.T) {
	const n, count = 16, 64
	for _, tc := range []struct {
		start attacks.Start
		loss  string
	}{
		{attacks.StartUniform, "ce"},
		{attacks.StartNone, "ce"},
		{attacks.StartNormal, "cw"},
	} {
		t.Run(tc.start.String()+"/"+tc.loss, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(testSeed(t), 4))
			m := newMLP(rng, 64, 32, 10)
			x, y := dataset(rng, m, count, 9)
			set := oracleSet(m, n, 0, gradHonest, nil)
			// Double ε until the attack breaks something beyond the
			// misclassified clean images, so the test is not vacuous.
			for eps := 0.03; eps < 0.5; eps *= 2 {
				var prev []int64
				var counts []int
				for _, steps := range []int{0, 1, 2, 5, 10, 20, 50} {
					a := attacks.PGD{Eps: eps, Alpha: eps / 10, Steps: steps, Start: tc.start, Loss: tc.loss}
					r, err := attacks.RunDataset(a, set, x, y, attacks.DatasetOptions{Seed: 7})
					if err != nil {
						t.Fatal(err)
					}
					for i := range prev {
						if prev[i] != y[i] && r.Pred[i] == y[i] {
							t.Errorf("ε = %g: example %d broken with fewer steps, robust with %d", eps, i, steps)
						}
					}
					prev = r.Pred
					counts = append(counts, robust(r.Pred, y))
				}
				t.Logf("ε = %g: robust examples for 0, 1, 2, 5, 10, 20, 50 steps: %v", eps, counts)
				if counts[len(counts)-1] < counts[0] {
					return
				}
			}
			t.Error("PGD never got stronger with more steps")
		})
	}
}

// TestPerturb checks the trainer's PGD: it returns the last iterate of
// every example (on a binary linear model, the corner x* for all of
// them, broken or not), within ε and [0, 1], reproducibly from the seeds.
func TestPerturb(t *testing.T) {
	const n, d, eps = 8, 64, 0.05
	rng := rand.New(rand.NewPCG(testSeed(t), 5))
	m := newLinear(rng, d, 2)
	x, y := dataset(rng, m, n, 0)
	o, err := oracleSet(m, n, 0, gradHonest, nil)("ce")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		pgd    attacks.PGD
		corner bool
	}{
		{"taet-training", attacks.PGD{Eps: eps, Alpha: eps / 3, Steps: 10, Start: attacks.StartNormal}, true},
		{"uniform", attacks.PGD{Eps: eps, Alpha: eps / 4, Steps: 10, Start: attacks.StartUniform}, true},
		{"start-only/normal", attacks.PGD{Eps: eps, Start: attacks.StartNormal}, false},
		{"start-only/uniform", attacks.PGD{Eps: eps, Start: attacks.StartUniform}, false},
		{"robal-training", attacks.PGD{Eps: eps, Alpha: eps / 4, Steps: 10, Start: attacks.StartPositive}, true},
		{"start-only/positive", attacks.PGD{Eps: eps, Start: attacks.StartPositive}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			adv := make([]float32, len(x))
			if err := tc.pgd.Perturb(o, x, y, attacks.Seeds(3, 0, n), adv); err != nil {
				t.Fatal(err)
			}
			again := make([]float32, len(x))
			if err := tc.pgd.Perturb(o, x, y, attacks.Seeds(3, 0, n), again); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(adv, again) {
				t.Error("same seeds, different results")
			}
			other := make([]float32, len(x))
			if err := tc.pgd.Perturb(o, x, y, attacks.Seeds(4, 0, n), other); err != nil {
				t.Fatal(err)
			}
			if !tc.corner && slices.Equal(adv, other) {
				t.Error("different seeds, same random start")
			}
			linf := 0.0
			unclipped := tc.pgd.Start == attacks.StartNormal && tc.pgd.Steps == 0 // the authors' start, see TestPerturbOrder
			for j, v := range adv {
				if !unclipped && !(v >= 0 && v <= 1) {
					t.Fatalf("pixel %d = %v outside [0, 1]", j, v)
				}
				linf = max(linf, math.Abs(float64(v-x[j])))
			}
			limit := eps + attacks.Tolerance
			if tc.pgd.Start == attacks.StartNormal && !tc.corner {
				limit = 6 * attacks.NormalStartStd // a 6σ bound on the noise
			}
			if linf > limit {
				t.Errorf("‖adv − x‖_∞ = %g > %g", linf, limit)
			}
			if tc.pgd.Start == attacks.StartPositive && !tc.corner {
				for j, v := range adv {
					if v < x[j] { // x + ε·U(0, 1) clipped to [0, 1] never falls below x ≤ 1
						t.Fatalf("pixel %d: start %v below x = %v: want x + ε·U(0, 1)", j, v, x[j])
					}
				}
			}
			if tc.corner {
				for i := range n {
					want := corner(m, x[i*d:(i+1)*d], y[i], 1-y[i], eps)
					if !slices.Equal(adv[i*d:(i+1)*d], want) {
						t.Errorf("example %d did not end on the optimum corner", i)
					}
				}
			}
		})
	}
}

// recorder is an Oracle that keeps a copy of every point and gradient.
type recorder struct {
	attacks.Oracle
	at, grads [][]float32
}

func (r *recorder) Eval(x []float32, y, target []int64, logits, grad []float32) error {
	err := r.Oracle.Eval(x, y, target, logits, grad)
	r.at, r.grads = append(r.at, slices.Clone(x)), append(r.grads, slices.Clone(grad))
	return err
}

// TestPerturbOrder: the training PGD (the taet preset's) runs in the
// authors' order. The first gradient is taken at x + 0.001·N(0, 1), not
// clipped (some pixels of x are 0 or 1, so the start leaves [0, 1]); each
// step is a sign step, then the projection onto the ε-ball, then the clip
// to [0, 1], each iterate evaluated where the previous step left it.
func TestPerturbOrder(t *testing.T) {
	const n, d, eps, alpha = 4, 64, 0.031, 0.003
	rng := rand.New(rand.NewPCG(testSeed(t), 14))
	m := newLinear(rng, d, 3)
	x, y := dataset(rng, m, n, 0)
	o, err := oracleSet(m, n, 0, gradHonest, nil)("ce")
	if err != nil {
		t.Fatal(err)
	}
	pgd := attacks.PGD{Eps: eps, Alpha: alpha, Steps: 3, Start: attacks.StartNormal}
	seeds := attacks.Seeds(5, 0, n)
	rec := &recorder{Oracle: o}
	adv := make([]float32, len(x))
	if err := pgd.Perturb(rec, x, y, seeds, adv); err != nil {
		t.Fatal(err)
	}
	if len(rec.at) != pgd.Steps {
		t.Fatalf("%d oracle calls, want %d", len(rec.at), pgd.Steps)
	}
	start := pgd.StartPoint(x, seeds)
	outside := 0
	for j, v := range start {
		if d := math.Abs(float64(v - x[j])); d == 0 || d > 6*attacks.NormalStartStd {
			t.Fatalf("start pixel %d: %v from x = %v, want x + 0.001·N(0, 1)", j, v, x[j])
		}
		if v < 0 || v > 1 {
			outside++
		}
	}
	if outside == 0 {
		t.Fatal("no start pixel outside [0, 1]: the test cannot see a clip")
	}
	if !slices.Equal(rec.at[0], start) {
		t.Fatal("the first gradient was not taken at the unclipped start x + 0.001·N(0, 1)")
	}
	cur := start
	for s := range pgd.Steps {
		if !slices.Equal(rec.at[s], cur) {
			t.Fatalf("step %d evaluated elsewhere than the previous step's result", s)
		}
		next := make([]float32, len(cur))
		for j, v := range cur {
			step := v
			switch g := rec.grads[s][j]; {
			case g > 0:
				step += alpha
			case g < 0:
				step -= alpha
			}
			ball := min(max(step, x[j]-eps), x[j]+eps)
			next[j] = min(max(ball, 0), 1)
		}
		cur = next
	}
	if !slices.Equal(adv, cur) {
		t.Error("the result is not sign step → project → clip applied Steps times")
	}
}

func TestParseStart(t *testing.T) {
	for _, s := range []attacks.Start{attacks.StartNone, attacks.StartUniform, attacks.StartNormal, attacks.StartPositive} {
		got, err := attacks.ParseStart(s.String())
		if err != nil || got != s {
			t.Errorf("ParseStart(%q) = %v, %v", s.String(), got, err)
		}
	}
	if _, err := attacks.ParseStart("gaussian"); err == nil {
		t.Error("ParseStart(gaussian) did not fail")
	}
	if s := attacks.Start(7).String(); s != "Start(7)" {
		t.Errorf("Start(7).String() = %q", s)
	}
}

// TestCWL2 checks CW-L2 on a binary linear model, where the smallest L2
// perturbation that reaches the boundary ignoring the box is
// |z_y − z_o| / ‖w_y − w_o‖₂: no adversarial example can be closer, and
// CW-L2 must find one for every example, not much farther (Adam's first
// steps move every pixel by about lr/2 = 0.005, an L2 step of 0.04 here,
// so that much slack is allowed on top of 1.5× the minimum).
func TestCWL2(t *testing.T) {
	const n, d = 16, 64
	rng := rand.New(rand.NewPCG(testSeed(t), 6))
	m := newLinear(rng, d, 2)
	x, y := dataset(rng, m, n, 0)
	for i := range x {
		x[i] = 0.25 + x[i]/2 // away from the box, where the bound is attained
	}
	for i := range n {
		z, _ := m.forward(x[i*d : (i+1)*d])
		y[i] = int64(argmax64(z))
	}
	a := attacks.CWL2{C: 10, Steps: 100, LR: 0.01}
	r, err := a.Run(oracleSet(m, n, 0, gradHonest, nil), x, y, attacks.Seeds(1, 0, n))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		z, _ := m.forward(x[i*d : (i+1)*d])
		o := 1 - y[i]
		norm := 0.0
		for j := range d {
			dw := m.w[int(y[i])*d+j] - m.w[int(o)*d+j]
			norm += dw * dw
		}
		lower := (z[y[i]] - z[o]) / math.Sqrt(norm)
		l2 := 0.0
		for j := range d {
			dv := float64(r.Adv[i*d+j] - x[i*d+j])
			l2 += dv * dv
		}
		l2 = math.Sqrt(l2)
		switch {
		case r.Pred[i] == y[i]:
			t.Errorf("example %d not broken (minimal L2 %g)", i, lower)
		case l2 < lower*(1-1e-4):
			t.Errorf("example %d: L2 %g below the minimum %g", i, l2, lower)
		case l2 > 1.5*lower+0.05:
			t.Errorf("example %d: L2 %g, minimum %g", i, l2, lower)
		}
	}
	if r.MaxL2 == 0 || r.MaxLinf == 0 {
		t.Errorf("MaxL2 = %g, MaxLinf = %g", r.MaxL2, r.MaxLinf)
	}
}

// ExamplePGD_Perturb shows the trainer's use: one batch, one oracle, the
// last iterate of PGD-10 from the TAET authors' start.
func ExamplePGD_Perturb() {
	m := &linear{d: 4, k: 2, w: []float64{1, 1, 1, 1, -1, -1, -1, -1}, b: []float64{0, 0}}
	o, _ := oracleSet(m, 1, 0, gradHonest, nil)("ce")
	x := []float32{0.5, 0.5, 0.5, 0.02}
	pgd := attacks.PGD{Eps: 8.0 / 255, Alpha: 2.0 / 255, Steps: 10, Start: attacks.StartNormal}
	adv := make([]float32, len(x))
	if err := pgd.Perturb(o, x, []int64{0}, attacks.Seeds(1, 0, 1), adv); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.4f\n", adv)
	// Output:
	// [0.4686 0.4686 0.4686 0.0000]
}
