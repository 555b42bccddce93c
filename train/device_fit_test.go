package train_test

import (
	"context"
	"github.com/taet-ml/taet/checkpoint"
	"slices"
	"testing"

	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/train"
)

// TestDeviceResidentFitMatchesGoSGD runs a two-stage fit (clean CE, then HEL
// on PGD examples: a stage change, attacks and evaluations on the newest
// state, checkpoints) twice on the CPU, with the Go update and with the
// device-resident path a GPU takes (in-graph SGD, state and attack oracle
// bound to device memory), and requires bit-identical checkpoints. Both run
// the blocked kernels, a GPU's graphs as written but for the convolutions'
// layout: with the onednn kernels the two paths' HEL stage differs at float
// rounding (oneDNN's kernels are exact run to run on one path, see
// TestResumeIsExact; what differs between the paths is not known yet).
func TestDeviceResidentFitMatchesGoSGD(t *testing.T) {
	ortest.Init(t)
	cfg := tinyConfig(t, train.Stage{Name: "ce", Epochs: 1}, train.Stage{Name: "hel", Epochs: 1})
	cfg.CPUKernels = "blocked"
	fit := func(resident bool) (checkpoint.State, map[string][]float32) {
		t.Helper()
		defer train.SetDeviceResident(resident)()
		dir := t.TempDir()
		if _, err := train.Fit(context.Background(), cfg, dir, false, &quiet{}); err != nil {
			t.Fatalf("resident %v: %v", resident, err)
		}
		st, ts, err := checkpoint.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]float32{}
		for _, x := range ts {
			out[x.Name] = x.Data
		}
		return st, out
	}
	goState, goTensors := fit(false)
	devState, devTensors := fit(true)
	if len(devTensors) != len(goTensors) {
		t.Fatalf("%d tensors in the device-resident checkpoint, %d in the Go one", len(devTensors), len(goTensors))
	}
	for name, want := range goTensors {
		if !slices.Equal(devTensors[name], want) {
			t.Errorf("%s differs between the device-resident and the Go fit", name)
		}
	}
	for e := range goState.Metrics {
		g, d := goState.Metrics[e], devState.Metrics[e]
		if g.TrainLoss != d.TrainLoss || g.RobustBAcc != d.RobustBAcc {
			t.Errorf("epoch %d: loss %v / robust %v device-resident, %v / %v Go", e, d.TrainLoss, d.RobustBAcc, g.TrainLoss, g.RobustBAcc)
		}
	}
}
