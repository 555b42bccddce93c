package train_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/synthdata"
	"github.com/taet-ml/taet/internal/testenv"
	"github.com/taet-ml/taet/onnx/ort"
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
	// cancelEval, if set, cancels when the evaluation of epoch
	// cancelAt[0] starts instead.
	cancelEval bool
	cancel     context.CancelFunc
}

func (q *quiet) Started(train.Run) {}
func (q *quiet) Evaluating(epoch int) {
	if q.cancel != nil && q.cancelEval && epoch == q.cancelAt[0] {
		q.cancel()
	}
}
func (q *quiet) EpochDone(m train.EpochMetrics) {
	q.epochs = append(q.epochs, m)
}
func (q *quiet) StepDone(e train.StepEvent) {
	if q.cancel != nil && !q.cancelEval && e.Epoch == q.cancelAt[0] && e.Step == q.cancelAt[1] {
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

// TestFitPairedStages fits a trades epoch, then a mart epoch (each step
// attacks the current parameters, on the KL for trades, and trains on the
// clean batch and its PGD examples) and checks that each epoch trained and
// evaluated, that the checkpoint records both β, and that a run
// interrupted in the middle of the trades epoch and resumed ends the same.
func TestFitPairedStages(t *testing.T) {
	ortest.Init(t)
	cfg := tinyConfig(t, train.Stage{Name: "trades", Epochs: 1}, train.Stage{Name: "mart", Epochs: 1})
	cfg.TRADES.Beta, cfg.MART.Beta = 6, 5
	dir := t.TempDir()
	res, err := train.Fit(context.Background(), cfg, dir, false, &quiet{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Metrics) != 2 || res.Metrics[0].Stage != "trades" || res.Metrics[1].Stage != "mart" {
		t.Fatalf("metrics %+v, want a trades and a mart epoch", res.Metrics)
	}
	for _, m := range res.Metrics {
		if !(m.TrainLoss > 0) || m.EvalImages != cfg.EvalSize {
			t.Errorf("%s epoch: train loss %v, %d images evaluated", m.Stage, m.TrainLoss, m.EvalImages)
		}
	}
	st, _, err := checkpoint.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Config.TRADES.Beta != 6 || st.Config.MART.Beta != 5 {
		t.Errorf("checkpoint β: trades %v, mart %v; want 6 and 5", st.Config.TRADES.Beta, st.Config.MART.Beta)
	}
	split := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := train.Fit(ctx, cfg, split, false, &quiet{cancelAt: [2]int{0, 2}, cancel: cancel}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted fit returned %v, want context.Canceled", err)
	}
	if _, err := train.Fit(context.Background(), cfg, split, true, &quiet{}); err != nil {
		t.Fatal(err)
	}
	sameRuns(t, dir, split)
}

// TestTRADESWithoutAttackIsCE fits a trades epoch whose PGD takes no step
// from no random start, so the step's adversarial batch is the clean one:
// the KL term is then 0, and the first step's loss is a ce epoch's first
// (later steps drift apart by float32 rounding of the KL's zero gradient).
// A step that saw anything else as x_adv would add a positive KL.
func TestTRADESWithoutAttackIsCE(t *testing.T) {
	ortest.Init(t)
	loss := func(stage string) float64 {
		cfg := tinyConfig(t, train.Stage{Name: stage, Epochs: 1})
		cfg.PGD.Steps, cfg.PGD.Start, cfg.EvalSize = 0, train.StartNone, 0
		obs := &firstStep{}
		if _, err := train.Fit(context.Background(), cfg, t.TempDir(), false, obs); err != nil {
			t.Fatal(err)
		}
		return obs.loss
	}
	ce, trades := loss("ce"), loss("trades")
	if math.Abs(trades-ce) > 1e-6*ce {
		t.Errorf("trades without an attack: first step's loss %.7g, ce's %.7g; want them equal", trades, ce)
	}
}

// firstStep is an Observer that records the first step's loss.
type firstStep struct {
	quiet
	loss  float64
	steps int
}

func (f *firstStep) StepDone(e train.StepEvent) {
	if f.steps++; f.steps == 1 {
		f.loss = e.Loss
	}
}

// TestResumeIsExact interrupts a two-stage run mid-epoch (in the adversarial
// stage), resumes it, and compares the final checkpoint with an
// uninterrupted run's: the same parameters, optimizer state and metrics,
// for each choice of CPU kernels (onednn on 2 threads: its OpenMP
// reductions must repeat too).
func TestResumeIsExact(t *testing.T) {
	ortest.Init(t)
	for _, k := range []ort.CPUKernels{ort.OneDNN, ort.Blocked, ort.Standard} {
		t.Run(k.String(), func(t *testing.T) {
			if _, notice := k.Resolve(); notice != nil {
				testenv.Missing(t, "needs oneDNN (apt-get install libdnnl2): %v", notice)
			}
			cfg := tinyConfig(t, train.Stage{Name: "ce", Epochs: 1}, train.Stage{Name: "hel", Epochs: 1})
			cfg.CPUKernels = k.String()
			if k == ort.OneDNN {
				cfg.Threads = 2
			}
			resumeIsExact(t, cfg)
		})
	}
}

func resumeIsExact(t *testing.T, cfg train.Config) {
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
	st, _, err := checkpoint.Load(split)
	if err != nil {
		t.Fatal(err)
	}
	if st.Epoch != 1 || st.Step != 2 {
		t.Fatalf("interrupted at epoch %d step %d, want epoch 1 step 2", st.Epoch, st.Step)
	}
	if _, err := train.Fit(context.Background(), cfg, split, true, &quiet{}); err != nil {
		t.Fatal(err)
	}
	sameRuns(t, whole, split)
}

// sameRuns fails t unless the checkpoints in dirs a (uninterrupted) and b
// (resumed) hold the same tensors and the same losses and scores.
func sameRuns(t *testing.T, a, b string) {
	t.Helper()
	sa, ta, err := checkpoint.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, tb, err := checkpoint.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ta, tb) {
		t.Error("resumed run's tensors differ from the uninterrupted run's")
	}
	if len(sa.Metrics) != len(sb.Metrics) {
		t.Fatalf("%d epochs of metrics uninterrupted, %d resumed", len(sa.Metrics), len(sb.Metrics))
	}
	for i := range sa.Metrics {
		ma, mb := sa.Metrics[i], sb.Metrics[i]
		if ma.TrainLoss != mb.TrainLoss || ma.CleanBAcc != mb.CleanBAcc || ma.RobustBAcc != mb.RobustBAcc || ma.EvalImages != mb.EvalImages {
			t.Errorf("epoch %d metrics differ: %+v vs %+v", i, ma, mb)
		}
	}
}

// TestInterruptedEvaluation cancels a fit as its first epoch's evaluation
// starts: Fit must return at once with context.Canceled, leaving a
// checkpoint with every step of the epoch done, and the resumed run must
// end as an uninterrupted one.
func TestInterruptedEvaluation(t *testing.T) {
	ortest.Init(t)
	cfg := tinyConfig(t, train.Stage{Name: "hel", Epochs: 1})
	cfg.EvalSize = 64
	whole := t.TempDir()
	if _, err := train.Fit(context.Background(), cfg, whole, false, &quiet{}); err != nil {
		t.Fatal(err)
	}
	split := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	q := &quiet{cancelEval: true, cancel: cancel}
	if _, err := train.Fit(ctx, cfg, split, false, q); !errors.Is(err, context.Canceled) {
		t.Fatalf("fit interrupted in its evaluation returned %v, want context.Canceled", err)
	}
	if len(q.epochs) != 0 {
		t.Errorf("the interrupted evaluation finished its epoch: %+v", q.epochs)
	}
	st, _, err := checkpoint.Load(split)
	if err != nil {
		t.Fatal(err)
	}
	if st.Epoch != 0 || st.Step == 0 || len(st.Metrics) != 0 {
		t.Fatalf("checkpoint at epoch %d step %d with %d metrics, want epoch 0 with its steps done", st.Epoch, st.Step, len(st.Metrics))
	}
	if _, err := train.Fit(context.Background(), cfg, split, true, &quiet{}); err != nil {
		t.Fatal(err)
	}
	sameRuns(t, whole, split)
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
	st, _, err := checkpoint.Load(dir)
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
	if _, err := train.Fit(context.Background(), cfg, dir, false, &quiet{}); !errors.Is(err, train.ErrRunExists) {
		t.Errorf("a second fresh fit into the same directory: %v, want ErrRunExists", err)
	}
}

func TestCorruptCheckpointIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, checkpoint.File), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := train.Fit(context.Background(), train.Config{}, dir, true, &quiet{}); !errors.Is(err, checkpoint.ErrCheckpoint) {
		t.Errorf("got %v, want ErrCheckpoint", err)
	}
}
