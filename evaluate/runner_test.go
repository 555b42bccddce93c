package evaluate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/internal/boundedfile"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/synthdata"
	"github.com/taet-ml/taet/onnx/ort"
)

// TestRunnerResumes cancels a run after its second batch: Run must return
// context.Canceled with those batches in the state file, and a second Run
// must take them from the state (Resumed) and give exactly the results of
// an uninterrupted run.
func TestRunnerResumes(t *testing.T) {
	ortest.Init(t)
	test := synthdata.Stripes(100, 12, 4)
	tgt := evaluate.NewTarget(linear, rowDetector(), test.Shape(), 10, 20, ort.Options{Threads: 1})
	defer tgt.Close()
	pgd := attacks.Spec{Name: "pgd", Attack: attacks.PGD{Eps: 0.4, Alpha: 0.05, Steps: 10, Start: attacks.StartUniform}}
	newRunner := func(state string) *evaluate.Runner {
		return &evaluate.Runner{Target: tgt, Test: test, Attacks: []attacks.Spec{pgd}, Seed: 5, Batch: 20, State: state}
	}
	whole, err := newRunner("").Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state.json")
	ctx, cancel := context.WithCancel(context.Background())
	r := newRunner(state)
	r.Progress = func(p evaluate.Progress) {
		if p.Done == 40 {
			cancel()
		}
	}
	if _, err := r.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v, want context.Canceled", err)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("no state after the cancel: %v", err)
	}
	batches := 0
	r = newRunner(state)
	r.Progress = func(evaluate.Progress) { batches++ }
	resumed, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := resumed.Attacks[0]
	if got.Resumed != 40 || batches != 3 {
		t.Errorf("resumed %d images and attacked %d batches, want 40 and the 3 left", got.Resumed, batches)
	}
	if want := whole.Attacks[0]; !reflect.DeepEqual(got.Report, want.Report) || got.MaxLinf != want.MaxLinf {
		t.Errorf("resumed %+v, uninterrupted %+v", got, want)
	}
	if whole.Attacks[0].Balanced >= whole.Clean.Balanced {
		t.Errorf("PGD broke nothing (robust %v, clean %v): the test shows nothing", whole.Attacks[0].Balanced, whole.Clean.Balanced)
	}
}

// TestGradientFreeTarget: a target without gradients refuses gradient
// attacks before running anything.
func TestGradientFreeTarget(t *testing.T) {
	tgt := &evaluate.Target{GradientFree: true}
	pgd, _ := attacks.ByName("pgd-20", 8.0/255)
	sq, _ := attacks.ByName("square", 8.0/255)
	if err := tgt.Check([]attacks.Spec{sq, pgd}); err == nil {
		t.Error("pgd-20 on a gradient-free target: no error")
	}
	if err := tgt.Check([]attacks.Spec{sq}); err != nil {
		t.Errorf("square on a gradient-free target: %v", err)
	}
}

// TestRunnerRefusesAnOverSizeState: a state file over StateCap is neither
// read nor overwritten.
func TestRunnerRefusesAnOverSizeState(t *testing.T) {
	ortest.Init(t)
	test := synthdata.Stripes(20, 12, 4)
	tgt := evaluate.NewTarget(linear, rowDetector(), test.Shape(), 10, 20, ort.Options{Threads: 1})
	defer tgt.Close()
	state := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(state, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(state, evaluate.StateCap+1); err != nil { // sparse
		t.Fatal(err)
	}
	fgsm, _ := attacks.ByName("fgsm", 0.1)
	r := &evaluate.Runner{Target: tgt, Test: test, Attacks: []attacks.Spec{fgsm}, Seed: 1, Batch: 20, State: state}
	if _, err := r.Run(context.Background()); !errors.Is(err, boundedfile.ErrTooLarge) {
		t.Errorf("an over-size state: %v, want ErrTooLarge", err)
	}
	if fi, err := os.Stat(state); err != nil || fi.Size() != evaluate.StateCap+1 {
		t.Errorf("the over-size state was changed: %v", err)
	}
}
