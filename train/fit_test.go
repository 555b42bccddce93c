package train_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/synthdata"
	"github.com/taet-ml/taet/train"
)

// tinyConfig is a fit of a 1/16-width ResNet-18 on writeIDX data.
func tinyConfig(t *testing.T, stages ...train.Stage) train.Config {
	cfg, err := train.Preset("taet")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dataset, cfg.DataPath = "fashion-mnist", synthdata.FashionIDX(t, 400, 12)
	cfg.IR, cfg.NMax = 2, 40
	cfg.Width, cfg.Batch, cfg.EvalSize, cfg.Threads = 1.0/8, 16, 32, 1
	cfg.Optimizer.LR = 0.05
	cfg.PGD.Steps = 2
	cfg.Stages = stages
	return cfg
}

// quiet is an Observer that records epochs and can cancel after a step.
type quiet struct {
	epochs   []train.EpochMetrics
	cancelAt [2]int // epoch, step (1-based) after which to cancel
	cancel   context.CancelFunc
}

func (q *quiet) Started(train.Run) {}
func (q *quiet) Evaluating(int)    {}
func (q *quiet) EpochDone(m train.EpochMetrics) {
	q.epochs = append(q.epochs, m)
}
func (q *quiet) StepDone(e train.StepEvent) {
	if q.cancel != nil && e.Epoch == q.cancelAt[0] && e.Step == q.cancelAt[1] {
		q.cancel()
	}
}

func TestFitLossFalls(t *testing.T) {
	ortest.Init(t)
	cfg := tinyConfig(t, train.Stage{Name: "ce", Epochs: 4})
	cfg.Augment = false // random crops move the class-defining row
	res, err := train.Fit(context.Background(), cfg, t.TempDir(), false, &quiet{})
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.Metrics[0], res.Metrics[len(res.Metrics)-1]
	if !(last.TrainLoss < 0.8*first.TrainLoss) {
		t.Errorf("train loss went from %.4f to %.4f; want it to fall by 20%%", first.TrainLoss, last.TrainLoss)
	}
	if !(last.CleanBAcc > 0.3) {
		t.Errorf("clean balanced accuracy %.3f after 4 epochs on separable data", last.CleanBAcc)
	}
}

// TestResumeIsExact interrupts a two-stage run mid-epoch (in the adversarial
// stage), resumes it, and compares the final checkpoint with an
// uninterrupted run's: the same parameters, optimizer state and metrics.
func TestResumeIsExact(t *testing.T) {
	ortest.Init(t)
	cfg := tinyConfig(t, train.Stage{Name: "ce", Epochs: 1}, train.Stage{Name: "hel", Epochs: 1})
	whole := t.TempDir()
	if _, err := train.Fit(context.Background(), cfg, whole, false, &quiet{}); err != nil {
		t.Fatal(err)
	}
	split := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err := train.Fit(ctx, cfg, split, false, &quiet{cancelAt: [2]int{1, 2}, cancel: cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted fit returned %v, want context.Canceled", err)
	}
	st, _, err := train.LoadCheckpoint(split)
	if err != nil {
		t.Fatal(err)
	}
	if st.Epoch != 1 || st.Step != 2 {
		t.Fatalf("interrupted at epoch %d step %d, want epoch 1 step 2", st.Epoch, st.Step)
	}
	if _, err := train.Fit(context.Background(), cfg, split, true, &quiet{}); err != nil {
		t.Fatal(err)
	}
	a, ta, err := train.LoadCheckpoint(whole)
	if err != nil {
		t.Fatal(err)
	}
	b, tb, err := train.LoadCheckpoint(split)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ta, tb) {
		t.Error("resumed run's tensors differ from the uninterrupted run's")
	}
	for i := range a.Metrics {
		ma, mb := a.Metrics[i], b.Metrics[i]
		if ma.TrainLoss != mb.TrainLoss || ma.CleanBAcc != mb.CleanBAcc || ma.RobustBAcc != mb.RobustBAcc {
			t.Errorf("epoch %d metrics differ: %+v vs %+v", i, ma, mb)
		}
	}
}

func TestNaNStopsAndKeepsTheCheckpoint(t *testing.T) {
	ortest.Init(t)
	cfg := tinyConfig(t, train.Stage{Name: "ce", Epochs: 3})
	cfg.Optimizer.Milestones, cfg.Optimizer.Gamma = []int{1}, 1e30 // epoch 1 diverges
	dir := t.TempDir()
	_, err := train.Fit(context.Background(), cfg, dir, false, &quiet{})
	if !errors.Is(err, train.ErrNaNLoss) {
		t.Fatalf("got %v, want ErrNaNLoss", err)
	}
	st, _, err := train.LoadCheckpoint(dir)
	if err != nil {
		t.Fatalf("checkpoint after the NaN: %v", err)
	}
	if st.Epoch != 1 || len(st.Metrics) != 1 {
		t.Errorf("checkpoint at epoch %d with %d metrics, want the end of epoch 0", st.Epoch, len(st.Metrics))
	}
}

func TestFitRefusesToOverwriteARun(t *testing.T) {
	ortest.Init(t)
	cfg := tinyConfig(t, train.Stage{Name: "ce", Epochs: 1})
	cfg.EvalSize = 0
	dir := t.TempDir()
	if _, err := train.Fit(context.Background(), cfg, dir, false, &quiet{}); err != nil {
		t.Fatal(err)
	}
	if _, err := train.Fit(context.Background(), cfg, dir, false, &quiet{}); err == nil {
		t.Error("a second fresh fit into the same directory was accepted")
	}
}

func TestCorruptCheckpointIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, train.CheckpointFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := train.Fit(context.Background(), train.Config{}, dir, true, &quiet{}); !errors.Is(err, train.ErrCheckpoint) {
		t.Errorf("got %v, want ErrCheckpoint", err)
	}
}
