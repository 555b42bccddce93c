package attacks_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/taet-ml/taet/attacks"
)

// TestInvariants runs every attack, and every catalogue entry with its
// suite parameters, on a nonlinear net over images with saturated pixels
// and some wrong labels, and checks what every Result promises: images in
// [0, 1], within ε (CW-L2 has no ε), the reported distances, clean and
// adversarial predictions that match an independent evaluation, and
// misclassified clean images counted as broken.
func TestInvariants(t *testing.T) {
	const n, d, eps = 8, 3 * 4 * 4, 8.0 / 255
	type entry struct {
		name   string
		attack attacks.Attack
		kappa  float64
	}
	entries := []entry{
		{"fgsm/cw", attacks.FGSM{Eps: eps, Loss: "cw"}, 0},
		{"pgd/dlr/normal", attacks.PGD{Eps: eps, Alpha: 2.0 / 255, Steps: 7, Start: attacks.StartNormal, Loss: "dlr"}, 0},
		{"pgd/zero-steps", attacks.PGD{Eps: eps, Start: attacks.StartUniform}, 0},
		{"apgd-dlr/restarts", attacks.APGD{Eps: eps, Steps: 12, Loss: "dlr", Restarts: 2}, 0},
		{"apgd-t/rho", attacks.APGD{Eps: eps, Steps: 12, Targets: 2, Rho: 0.5}, 0},
		{"fab-t/params", attacks.FAB{Eps: eps, Steps: 8, Targets: 3, AlphaMax: 0.2, Eta: 1.2, Beta: 0.7}, 0},
		{"square/p", attacks.Square{Eps: eps, Queries: 300, PInit: 0.3, Loss: "cw"}, 0},
		{"cw-l2/kappa", attacks.CWL2{C: 1, Kappa: 5, Steps: 30, LR: 0.05}, 5},
	}
	for _, name := range attacks.Names() {
		s, err := attacks.ByName(name, eps)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, entry{"catalogue/" + name, s.Attack, s.Kappa})
	}
	for _, tc := range entries {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(testSeed(t), 11))
			m := newMLP(rng, d, 16, 10)
			x, y := dataset(rng, m, n, 3)
			calls := 0
			set := oracleSet(m, n, tc.kappa, gradHonest, &calls)
			r, err := tc.attack.Run(set, x, y, attacks.Seeds(2, 0, n))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Adv) != len(x) || len(r.Pred) != n || len(r.Clean) != n {
				t.Fatalf("result lengths %d, %d, %d", len(r.Adv), len(r.Pred), len(r.Clean))
			}
			budget := eps + attacks.Tolerance
			if _, ok := tc.attack.(attacks.CWL2); ok {
				budget = math.Inf(1)
			}
			var maxLinf, maxL2 float64
			for i := range n {
				linf, l2 := 0.0, 0.0
				for j := range d {
					v := r.Adv[i*d+j]
					if !(v >= 0 && v <= 1) {
						t.Fatalf("example %d pixel %d = %v outside [0, 1]", i, j, v)
					}
					dv := math.Abs(float64(v) - float64(x[i*d+j]))
					linf, l2 = max(linf, dv), l2+dv*dv
				}
				if linf > budget {
					t.Errorf("example %d: ‖adv − x‖_∞ = %g > ε = %g", i, linf, eps)
				}
				maxLinf, maxL2 = max(maxLinf, linf), max(maxL2, math.Sqrt(l2))
				zc, _ := m.forward(x[i*d : (i+1)*d])
				za, _ := m.forward(r.Adv[i*d : (i+1)*d])
				if c := int64(argmax64(zc)); c != r.Clean[i] {
					t.Errorf("example %d: Clean %d, the net says %d", i, r.Clean[i], c)
				}
				if p := int64(argmax64(za)); p != r.Pred[i] {
					t.Errorf("example %d: Pred %d, the net says %d at Adv", i, r.Pred[i], p)
				}
				if r.Clean[i] != y[i] && r.Pred[i] == y[i] {
					t.Errorf("example %d misclassified clean but robust", i)
				}
			}
			if math.Abs(maxLinf-r.MaxLinf) > 1e-12 || math.Abs(maxL2-r.MaxL2) > 1e-9 {
				t.Errorf("MaxLinf %g, MaxL2 %g; measured %g, %g", r.MaxLinf, r.MaxL2, maxLinf, maxL2)
			}
			if r.Evals != calls {
				t.Errorf("Evals = %d, the oracles counted %d calls", r.Evals, calls)
			}
			t.Logf("robust %d/%d, max L∞ %.4f, max L2 %.4f, %d calls", robust(r.Pred, y), n, r.MaxLinf, r.MaxL2, calls)
		})
	}
}
