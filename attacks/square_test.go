package attacks_test

import (
	"math/rand/v2"
	"testing"

	"github.com/taet-ml/taet/attacks"
)

// TestSquareBreaksMaskedGradients: on nets whose gradients are useless
// (zeros, noise, or a quantised input whose true gradient is 0), PGD
// stays at or near clean accuracy, while Square, which reads only logits,
// breaks at least half of what PGD breaks with honest gradients on the
// same net without the mask. ε is the smallest of a few radii at which
// honest PGD breaks three quarters of the examples.
func TestSquareBreaksMaskedGradients(t *testing.T) {
	const n, count = 16, 32
	for _, tc := range []struct {
		name   string
		levels int
		mode   gradMode
		minEps float64
	}{
		{"zero gradients", 0, gradZero, 0.03},
		{"noise gradients", 0, gradNoise, 0.03},
		{"quantised input", 4, gradHonest, 0.15}, // quantisation steps are 0.25 apart
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(testSeed(t), 9))
			m := newMLP(rng, 64, 32, 10)
			x, y := dataset(rng, m, count, 0)
			run := func(a attacks.Attack, set attacks.OracleSet) int {
				t.Helper()
				r, err := attacks.RunDataset(a, set, x, y, attacks.DatasetOptions{Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				return count - robust(r.Pred, y)
			}
			var pgd attacks.PGD
			honest := 0
			for _, eps := range []float64{tc.minEps, 2 * tc.minEps, 4 * tc.minEps, 8 * tc.minEps} {
				pgd = attacks.PGD{Eps: eps, Alpha: eps / 4, Steps: 20}
				if honest = run(pgd, oracleSet(m, n, 0, gradHonest, nil)); honest >= 3*count/4 {
					break
				}
			}
			m.levels = tc.levels
			set := oracleSet(m, n, 0, tc.mode, nil)
			masked := run(pgd, set)
			square := run(attacks.Square{Eps: pgd.Eps, Queries: 1000, Shape: [3]int{1, 8, 8}}, set)
			t.Logf("ε = %g, broken of %d: PGD-20 %d with honest gradients, %d masked; Square %d",
				pgd.Eps, count, honest, masked, square)
			if square < honest/2 || square < masked+count/4 {
				t.Errorf("Square breaks %d, masked PGD %d, honest PGD %d", square, masked, honest)
			}
		})
	}
}

// TestSquareShape checks the image shape: given, inferred from square
// images, or refused.
func TestSquareShape(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 10))
	for _, tc := range []struct {
		name  string
		d     int
		shape [3]int
		ok    bool
	}{
		{"inferred gray", 64, [3]int{}, true},
		{"inferred rgb", 48, [3]int{}, true},
		{"given", 24, [3]int{2, 3, 4}, true},
		{"not square", 24, [3]int{}, false},
		{"wrong size", 64, [3]int{3, 8, 8}, false},
		{"too thin", 8, [3]int{1, 1, 8}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMLP(rng, tc.d, 4, 3)
			x, y := dataset(rng, m, 2, 0)
			_, err := attacks.Square{Eps: 0.1, Queries: 5, Shape: tc.shape}.Run(oracleSet(m, 2, 0, gradHonest, nil), x, y, attacks.Seeds(1, 0, 2))
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok = %v", err, tc.ok)
			}
		})
	}
}
