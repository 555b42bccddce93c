package attacks_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/taet-ml/taet/attacks"
)

// TestRunDatasetBatchIndependence runs attacks over 37 examples with
// oracle batches of 16 (two full batches, one padded with 11 copies), 5
// and 37: an example's randomness comes from its index, and the padded
// rows are dropped, so every per-example result must be identical.
func TestRunDatasetBatchIndependence(t *testing.T) {
	const count, eps = 37, 0.03
	for _, a := range []attacks.Attack{
		attacks.PGD{Eps: eps, Alpha: eps / 4, Steps: 5, Start: attacks.StartUniform},
		attacks.APGD{Eps: eps, Steps: 10, Targets: 3},
		attacks.FAB{Eps: eps, Steps: 5, Targets: 2},
		attacks.Square{Eps: eps, Queries: 100},
		attacks.CWL2{C: 1, Steps: 20, LR: 0.01},
	} {
		t.Run(a.Name(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(testSeed(t), 12))
			m := newMLP(rng, 64, 16, 10)
			x, y := dataset(rng, m, count, 6)
			var first *attacks.DatasetResult
			for _, n := range []int{16, 5, count} {
				progress := map[string]int{}
				r, err := attacks.RunDataset(a, oracleSet(m, n, 0, gradHonest, nil), x, y, attacks.DatasetOptions{
					Seed: 11, KeepAdv: true,
					Progress: func(name string, done, total int) {
						if done > total || done <= progress[name] {
							t.Errorf("progress %s: %d of %d after %d", name, done, total, progress[name])
						}
						progress[name] = done
					},
				})
				if err != nil {
					t.Fatal(err)
				}
				if progress["clean"] != count {
					t.Errorf("batch %d: clean pass reported %d of %d", n, progress["clean"], count)
				}
				if first == nil {
					first = r
					continue
				}
				if !slices.Equal(r.Pred, first.Pred) || !slices.Equal(r.Clean, first.Clean) ||
					!slices.Equal(r.BrokenAt, first.BrokenAt) || !slices.Equal(r.Adv, first.Adv) {
					t.Errorf("batch %d: results differ from batch 16", n)
				}
			}
			if robust(first.Pred, y) == robust(first.Clean, y) {
				t.Logf("note: %s broke nothing here", a.Name())
			}
		})
	}
}

func TestRunDatasetEmpty(t *testing.T) {
	m := newLinear(rand.New(rand.NewPCG(1, 1)), 4, 2)
	r, err := attacks.RunDataset(attacks.FGSM{Eps: 0.1}, oracleSet(m, 3, 0, gradHonest, nil), nil, nil, attacks.DatasetOptions{})
	if err != nil || len(r.Pred) != 0 || !slices.Equal(r.Members, []string{"fgsm"}) {
		t.Errorf("RunDataset on no examples: %+v, %v", r, err)
	}
}

// TestVerification: an oracle that claims misclassifications its
// gradient-free evaluation does not confirm makes every attack fail with
// ErrUnverified.
func TestVerification(t *testing.T) {
	const n = 4
	rng := rand.New(rand.NewPCG(testSeed(t), 13))
	m := newMLP(rng, 16, 8, 5)
	x, y := dataset(rng, m, n, 0)
	honest := oracleSet(m, n, 0, gradHonest, nil)
	lying := func(loss string) (attacks.Oracle, error) {
		o, err := honest(loss)
		return lyingOracle{o}, err
	}
	for _, a := range []attacks.Attack{
		attacks.FGSM{Eps: 0.01},
		attacks.PGD{Eps: 0.01, Alpha: 0.001, Steps: 3, Start: attacks.StartUniform},
		attacks.APGD{Eps: 0.01, Steps: 3},
		attacks.APGD{Eps: 0.01, Steps: 3, Targets: 1},
		attacks.CWL2{C: 1, Steps: 3, LR: 0.01},
	} {
		_, err := a.Run(lying, x, y, attacks.Seeds(1, 0, n))
		if !errors.Is(err, attacks.ErrUnverified) {
			t.Errorf("%s: err = %v, want ErrUnverified", a.Name(), err)
		}
		_, err = attacks.RunDataset(a, lying, x, y, attacks.DatasetOptions{})
		if !errors.Is(err, attacks.ErrUnverified) {
			t.Errorf("RunDataset(%s): err = %v, want ErrUnverified", a.Name(), err)
		}
	}
}

var errBroken = errors.New("device lost")

// failingOracle fails on its calls after the first `after`.
type failingOracle struct {
	attacks.Oracle
	after int
	calls *int
}

func (o failingOracle) Eval(x []float32, y, target []int64, logits, grad []float32) error {
	*o.calls++
	if *o.calls > o.after {
		return errBroken
	}
	return o.Oracle.Eval(x, y, target, logits, grad)
}

// TestErrors checks that oracle and set errors come back wrapped, and that
// bad configurations are refused.
func TestErrors(t *testing.T) {
	const n = 4
	rng := rand.New(rand.NewPCG(testSeed(t), 14))
	m := newMLP(rng, 16, 8, 5)
	x, y := dataset(rng, m, n, 0)
	honest := oracleSet(m, n, 0, gradHonest, nil)
	for _, a := range []attacks.Attack{
		attacks.FGSM{Eps: 0.01},
		attacks.PGD{Eps: 0.01, Alpha: 0.001, Steps: 3},
		attacks.APGD{Eps: 0.01, Steps: 3, Targets: 2},
		attacks.FAB{Eps: 0.01, Steps: 3, Targets: 2},
		attacks.Square{Eps: 0.01, Queries: 3},
		attacks.CWL2{C: 1, Steps: 3, LR: 0.01},
	} {
		for after := range 3 {
			t.Run(fmt.Sprintf("%s/fail-after-%d", a.Name(), after), func(t *testing.T) {
				calls := 0
				set := func(loss string) (attacks.Oracle, error) {
					o, err := honest(loss)
					return failingOracle{o, after, &calls}, err
				}
				if _, err := a.Run(set, x, y, attacks.Seeds(1, 0, n)); !errors.Is(err, errBroken) {
					t.Errorf("err = %v, want %v", err, errBroken)
				}
			})
		}
	}
	for _, tc := range []struct {
		name   string
		attack attacks.Attack
	}{
		{"unknown loss", attacks.PGD{Eps: 0.01, Steps: 1, Loss: "hinge"}},
		{"apgd loss without a Go value", attacks.APGD{Eps: 0.01, Steps: 1, Loss: "cw"}},
		{"apgd targets", attacks.APGD{Eps: 0.01, Steps: 1, Targets: -2}},
		{"fab targets", attacks.FAB{Eps: 0.01, Steps: 1}},
		{"dlr-targeted with 3 classes", attacks.APGD{Eps: 0.01, Steps: 1, Targets: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, y := m, y
			if tc.name == "dlr-targeted with 3 classes" {
				m, y = newMLP(rng, 16, 8, 3), []int64{0, 1, 2, 0}
			}
			if _, err := tc.attack.Run(oracleSet(m, n, 0, gradHonest, nil), x, y, attacks.Seeds(1, 0, n)); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestShapePanics(t *testing.T) {
	const n = 4
	rng := rand.New(rand.NewPCG(1, 15))
	m := newMLP(rng, 16, 8, 5)
	x, y := dataset(rng, m, n, 0)
	set := oracleSet(m, n, 0, gradHonest, nil)
	a := attacks.FGSM{Eps: 0.1}
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"short labels", func() { a.Run(set, x, y[:3], attacks.Seeds(1, 0, 3)) }},
		{"short seeds", func() { a.Run(set, x, y, attacks.Seeds(1, 0, 3)) }},
		{"ragged images", func() { a.Run(set, x[:len(x)-1], y, attacks.Seeds(1, 0, n)) }},
		{"label out of range", func() { a.Run(set, x, []int64{0, 1, 2, 5}, attacks.Seeds(1, 0, n)) }},
		{"perturb output", func() {
			o, _ := set("ce")
			attacks.PGD{Eps: 0.1}.Perturb(o, x, y, attacks.Seeds(1, 0, n), make([]float32, 3))
		}},
		{"dataset ragged", func() { attacks.RunDataset(a, set, x[:len(x)-1], y, attacks.DatasetOptions{}) }},
		{"cascade seeds", func() {
			attacks.Cascade{Label: "c", Members: []attacks.Attack{a}}.Run(set, x, y, attacks.Seeds(1, 0, 2))
		}},
		{"empty cascade", func() { attacks.Cascade{Label: "c"}.Run(set, x, y, attacks.Seeds(1, 0, n)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("did not panic")
				}
			}()
			tc.f()
		})
	}
}

// TestRunDatasetInPieces: running a data set in two pieces with First set
// gives exactly the predictions and images of one run.
func TestRunDatasetInPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 13))
	m := newMLP(rng, 64, 16, 10)
	x, y := dataset(rng, m, 20, 4)
	a := attacks.PGD{Eps: 0.03, Alpha: 0.01, Steps: 5, Start: attacks.StartUniform}
	run := func(x []float32, y []int64, first int) *attacks.DatasetResult {
		r, err := attacks.RunDataset(a, oracleSet(m, 8, 0, gradHonest, nil), x, y, attacks.DatasetOptions{Seed: 7, First: first, KeepAdv: true})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	size := len(x) / len(y)
	whole, head, tail := run(x, y, 0), run(x[:13*size], y[:13], 0), run(x[13*size:], y[13:], 13)
	if got := append(head.Pred, tail.Pred...); !slices.Equal(got, whole.Pred) {
		t.Errorf("pieces predict %v, one run %v", got, whole.Pred)
	}
	if got := append(head.Adv, tail.Adv...); !slices.Equal(got, whole.Adv) {
		t.Error("pieces give other adversarial images than one run")
	}
}

// countingOracle counts Eval calls and cancels a context at the limit-th.
type countingOracle struct {
	attacks.Oracle
	calls  *int
	limit  int
	cancel func()
}

func (o countingOracle) Eval(x []float32, y, target []int64, logits, grad []float32) error {
	*o.calls++
	if *o.calls == o.limit {
		o.cancel()
	}
	return o.Oracle.Eval(x, y, target, logits, grad)
}

// TestRunDatasetCancelled: once the context is cancelled, not one more
// oracle call is made (so an attack stops within one iteration) and the
// error wraps context.Canceled.
func TestRunDatasetCancelled(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 14))
	m := newMLP(rng, 64, 16, 10)
	x, y := dataset(rng, m, 20, 4)
	a := attacks.PGD{Eps: 0.03, Alpha: 0.01, Steps: 100, Start: attacks.StartUniform}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	inner := oracleSet(m, 8, 0, gradHonest, nil)
	set := func(loss string) (attacks.Oracle, error) {
		o, err := inner(loss)
		return countingOracle{o, &calls, 7, cancel}, err
	}
	_, err := attacks.RunDataset(a, set, x, y, attacks.DatasetOptions{Seed: 7, Context: ctx})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RunDataset after cancel: %v, want context.Canceled", err)
	}
	if calls != 7 {
		t.Errorf("%d oracle calls, want the 7 made before the cancel", calls)
	}
}
