package train_test

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/torchtest"
	"github.com/taet-ml/taet/train"
)

// TestCheckpointRunningStatsMatchPyTorch fits one training step and
// compares the BatchNorm running statistics in the checkpoint with
// torch.nn.BatchNorm2d's after the same step: the same parameters (a
// learning rate of 1e-30 and no momentum or weight decay leave them as they
// were, so the checkpoint holds the step's own), the same images (one batch
// of the whole training set, no augmentation: the order the fit shuffles
// them in does not change batch statistics) and the initial running
// statistics (0 and 1). PyTorch updates running_var with the unbiased
// batch variance, ONNX's BatchNormalization with the biased one; at
// layer4 (n = N·4·4) the two differ by far more than the tolerance.
func TestCheckpointRunningStatsMatchPyTorch(t *testing.T) {
	ortest.Init(t)
	cfg := tinyConfig(t, train.Stage{Name: "ce", Epochs: 1})
	cfg.Augment, cfg.EvalSize = false, 0
	cfg.Optimizer = train.Optimizer{LR: 1e-30, Gamma: 0.1}
	spec, err := train.Resolve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ds := spec.Train
	cfg.Batch = ds.N // one step
	dir := t.TempDir()
	if _, err := train.Fit(context.Background(), cfg, dir, false, &quiet{}); err != nil {
		t.Fatal(err)
	}
	_, tensors, err := checkpoint.Load(filepath.Join(dir, checkpoint.File))
	if err != nil {
		t.Fatal(err)
	}
	state, shapes, saved := map[string][]float32{}, map[string][]int64{}, map[string][]float32{}
	for _, ts := range tensors {
		if strings.HasPrefix(ts.Name, checkpoint.MomentumPrefix) {
			continue
		}
		v := ts.Data
		switch {
		case strings.HasSuffix(ts.Name, ".running_mean"):
			saved[ts.Name], v = v, make([]float32, len(v))
		case strings.HasSuffix(ts.Name, ".running_var"):
			saved[ts.Name], v = v, make([]float32, len(v))
			for i := range v {
				v[i] = 1
			}
		}
		state[ts.Name], shapes[ts.Name] = v, ts.Shape
	}
	var want map[string][]float64
	torchtest.Run(t, torchtest.ResNet18TrainStep, map[string]any{
		"state": state, "shapes": shapes, "x": ds.Images, "xshape": []int{ds.N, ds.C, ds.H, ds.W}, "y": ds.Labels,
	}, &want)
	if len(saved) == 0 {
		t.Fatal("the checkpoint holds no running statistics")
	}
	// A running variance must agree to 1e-5 relative: the unbiased and the
	// biased batch variance differ by more. A running mean is a tenth of a
	// batch mean, a sum of terms that mostly cancel, so float32 summation
	// order (oneDNN's blocked kernel against PyTorch's) moves the small ones
	// by about 1e-7: 1e-4 relative of at least 0.01 still catches a wrong
	// momentum, which is off by a factor.
	worst := 0.0
	for name, got := range saved {
		w := want[name+"_updated"]
		if len(w) != len(got) {
			t.Fatalf("%s: PyTorch gave %d values, the checkpoint holds %d", name, len(w), len(got))
		}
		tol := 1e-5
		if strings.HasSuffix(name, ".running_mean") {
			tol = 1e-4
		}
		for i := range w {
			d := math.Abs(float64(got[i])-w[i]) / max(math.Abs(w[i]), 1e-2)
			worst = max(worst, d)
			if d > tol {
				t.Errorf("%s[%d]: checkpoint %.7g, PyTorch %.7g", name, i, got[i], w[i])
				break
			}
		}
	}
	t.Logf("%d running statistics, %d images: max relative |checkpoint − PyTorch| %.3g", len(saved), ds.N, worst)
}
