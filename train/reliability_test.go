package train_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/synthdata"
	"github.com/taet-ml/taet/train"
)

// TestNaNLossNamesThePrintedEpoch: the error counts epochs from 1, as the
// progress output does.
func TestNaNLossNamesThePrintedEpoch(t *testing.T) {
	ortest.Init(t)
	cfg := tinyConfig(t, train.Stage{Name: "ce", Epochs: 3})
	cfg.EvalSize = 0
	cfg.Optimizer.Milestones, cfg.Optimizer.Gamma = []int{1}, 1e30 // the second epoch diverges
	_, err := train.Fit(context.Background(), cfg, t.TempDir(), false, &quiet{})
	if !errors.Is(err, train.ErrNaNLoss) || !strings.Contains(err.Error(), "epoch 2 step ") {
		t.Errorf("got %v, want ErrNaNLoss in epoch 2 (of 1, 2, 3)", err)
	}
}

// TestInterruptedSaysWhereItStopped: an interrupted fit's error names the
// epoch and step its checkpoint holds, counted as printed.
func TestInterruptedSaysWhereItStopped(t *testing.T) {
	ortest.Init(t)
	cfg := tinyConfig(t, train.Stage{Name: "ce", Epochs: 2})
	cfg.EvalSize = 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	_, err := train.Fit(ctx, cfg, dir, false, &quiet{cancelAt: [2]int{1, 2}, cancel: cancel}) // after step 2 of the second epoch
	var ie *train.InterruptedError
	if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want an InterruptedError wrapping context.Canceled", err)
	}
	st, _, lerr := checkpoint.Load(dir)
	if lerr != nil {
		t.Fatal(lerr)
	}
	want := "checkpoint saved in " + dir + " at epoch 2 step 2"
	if st.Epoch != 1 || st.Step != 2 || !strings.Contains(err.Error(), want) {
		t.Errorf("checkpoint at epoch %d step %d (0-based), error %q, want %q", st.Epoch, st.Step, err, want)
	}
}

// TestTrainAndTestImagesOfOneSize: test images of another size than the
// training images are a data error before any training.
func TestTrainAndTestImagesOfOneSize(t *testing.T) {
	cfg := tinyConfig(t, train.Stage{Name: "ce", Epochs: 1})
	other := synthdata.FashionIDX(t, 40, 14)
	for _, f := range []string{"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		b, err := os.ReadFile(filepath.Join(other, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cfg.DataPath, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := train.Resolve(cfg)
	if !errors.Is(err, train.ErrData) || !strings.Contains(err.Error(), "[1 14 14]") || !strings.Contains(err.Error(), "[1 12 12]") {
		t.Errorf("got %v, want ErrData naming both sizes", err)
	}
}

// TestValidateRejectsWhatCannotWork: the values the CLI once let through.
func TestValidateRejectsWhatCannotWork(t *testing.T) {
	for name, edit := range map[string]func(*train.Config){
		"width 0":    func(c *train.Config) { c.Width = 0 },
		"n-max -5":   func(c *train.Config) { c.NMax = -5 },
		"eps NaN":    func(c *train.Config) { c.PGD.Eps = nan() },
		"lr +Inf":    func(c *train.Config) { c.Optimizer.LR = 1 / zero },
		"tau NaN":    func(c *train.Config) { c.BSLTau = nan() },
		"threads -1": func(c *train.Config) { c.Threads = -1 },
		"model":      func(c *train.Config) { c.Model = "foo" },
		"dataset":    func(c *train.Config) { c.Dataset = "foo" },
	} {
		cfg, err := train.Preset("at")
		if err != nil {
			t.Fatal(err)
		}
		cfg.DataPath = "/nonexistent" // a check after loading would report the data instead
		edit(&cfg)
		if _, err := train.Resolve(cfg); !errors.Is(err, train.ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", name, err)
		}
	}
}

var zero float64

func nan() float64 { return zero / zero }
