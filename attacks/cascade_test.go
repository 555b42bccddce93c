package attacks_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/taet-ml/taet/attacks"
)

// TestAutoAttackNoWeakerThanMembers runs the AutoAttack cascade and each
// of its members alone with the same seed: every example a member breaks
// alone, the cascade breaks too, so the cascade's robust accuracy is at
// most its strongest member's.
func TestAutoAttackNoWeakerThanMembers(t *testing.T) {
	const n, count, eps = 16, 48, 0.03
	rng := rand.New(rand.NewPCG(testSeed(t), 7))
	m := newMLP(rng, 64, 32, 10)
	x, y := dataset(rng, m, count, 11)
	set := oracleSet(m, n, 0, gradHonest, nil)
	aa, err := attacks.AutoAttack(attacks.VersionTorchattacks, eps)
	if err != nil {
		t.Fatal(err)
	}
	full, err := attacks.RunDataset(aa, set, x, y, attacks.DatasetOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	best := count
	for _, member := range aa.Members {
		alone, err := attacks.RunDataset(member, set, x, y, attacks.DatasetOptions{Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		for i := range y {
			if alone.Pred[i] != y[i] && full.Pred[i] == y[i] {
				t.Errorf("%s alone breaks example %d, the cascade does not", member.Name(), i)
			}
		}
		best = min(best, robust(alone.Pred, y))
		t.Logf("%-8s alone: %d/%d robust", member.Name(), robust(alone.Pred, y), count)
	}
	got := robust(full.Pred, y)
	t.Logf("cascade: %d/%d robust; after each member: %v", got, count, cumulative(full, y))
	if got > best {
		t.Errorf("cascade leaves %d robust, its strongest member alone %d", got, best)
	}
	if !slices.Equal(full.Members, []string{"apgd-ce", "apgd-t", "fab-t", "square"}) {
		t.Errorf("Members = %v", full.Members)
	}
	if !slices.Equal(full.After(-1), full.Clean) || !slices.Equal(full.After(len(full.Members)-1), full.Pred) {
		t.Error("After(−1) is not Clean or After(last) is not Pred")
	}
	for i, at := range full.BrokenAt {
		switch {
		case (at == 0) != (full.Clean[i] != y[i]):
			t.Errorf("example %d: BrokenAt 0 but clean prediction %d, label %d", i, full.Clean[i], y[i])
		case (at == -1) != (full.Pred[i] == y[i]):
			t.Errorf("example %d: BrokenAt %d but prediction %d, label %d", i, at, full.Pred[i], y[i])
		}
	}
}

// cumulative returns the robust count after the clean pass and each
// member.
func cumulative(r *attacks.DatasetResult, y []int64) []int {
	var c []int
	for m := -1; m < len(r.Members); m++ {
		c = append(c, robust(r.After(m), y))
	}
	return c
}

// TestCascadeRunMatchesRunDataset checks that a cascade run on one batch
// gives what RunDataset gives for the same examples and seeds.
func TestCascadeRunMatchesRunDataset(t *testing.T) {
	const n, eps = 16, 0.03
	rng := rand.New(rand.NewPCG(testSeed(t), 8))
	m := newMLP(rng, 64, 32, 10)
	x, y := dataset(rng, m, n, 5)
	set := oracleSet(m, n, 0, gradHonest, nil)
	c := attacks.Cascade{Label: "test", Members: []attacks.Attack{
		attacks.PGD{Eps: eps, Alpha: eps / 4, Steps: 3, Start: attacks.StartUniform},
		attacks.APGD{Eps: eps, Steps: 5, Targets: 3},
		attacks.Square{Eps: eps, Queries: 50},
	}}
	if got, want := c.Losses(), []string{"ce", "dlr-targeted"}; !slices.Equal(got, want) {
		t.Errorf("Losses = %v, want %v", got, want)
	}
	batch, err := c.Run(set, x, y, attacks.Seeds(9, 0, n))
	if err != nil {
		t.Fatal(err)
	}
	whole, err := attacks.RunDataset(c, set, x, y, attacks.DatasetOptions{Seed: 9, KeepAdv: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(batch.Pred, whole.Pred) || !slices.Equal(batch.Clean, whole.Clean) || !slices.Equal(batch.Adv, whole.Adv) {
		t.Errorf("Cascade.Run and RunDataset disagree: predictions %v and %v", batch.Pred, whole.Pred)
	}
	if batch.MaxLinf != whole.MaxLinf || batch.MaxLinf > eps+attacks.Tolerance {
		t.Errorf("MaxLinf %g and %g (ε = %g)", batch.MaxLinf, whole.MaxLinf, eps)
	}
}
