package export_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/export"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/safetensors"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/train"
)

// TestRoBalAdjustmentInEvalAndExport saves a checkpoint of a RoBal model
// (cosine head, a robal stage, a long-tailed split) and checks that the
// logits taetctl eval attacks (evaluate.OpenCheckpoint's oracles), the
// logits of the exported ONNX file and s·z − τ_p·log π of the network
// without the adjustment are the same: a deployed RoBal model gives what
// it was evaluated with, and both apply the boundary adjustment.
func TestRoBalAdjustmentInEvalAndExport(t *testing.T) {
	ortest.Init(t)
	const batch = 5
	cfg, err := train.Preset("robal")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dataset, cfg.Width, cfg.RoBal.TauP = "fashion-mnist", 1.0/16, 1.7 // a τ_p that moves the logits visibly
	counts := data.LongTailCounts(100, 10, 10)
	image := []int64{1, 28, 28}
	raw := randomNetwork(t, "resnet18", models.Options{Classes: 10, ImageSize: 28, Width: cfg.Width, Head: cfg.Head}, image)
	info, err := raw.Params()
	if err != nil {
		t.Fatal(err)
	}
	st := checkpoint.State{Config: cfg, Split: data.SplitRecord{Counts: counts}, Classes: 10, Image: image}
	var tensors []safetensors.Tensor
	for _, p := range info {
		st.Params = append(st.Params, p.Name)
		tensors = append(tensors, safetensors.Tensor{Name: p.Name, Shape: p.Shape, Data: raw.Values[p.Name]})
	}
	dir := t.TempDir()
	if err := checkpoint.Save(dir, st, tensors); err != nil {
		t.Fatal(err)
	}
	x := raw.RandomInputs(batch, 3)

	// s·z − τ_p·log π from the unadjusted network
	ref, err := raw.EvalGraph(batch)
	if err != nil {
		t.Fatal(err)
	}
	z := ortest.Run(t, ref.Model, ortest.F32(x, batch, 1, 28, 28))[0].F
	scale, bias := losses.RoBalAdjustment(counts, losses.RoBalOpts{S: float32(cfg.RoBal.S), TauP: float32(cfg.RoBal.TauP)})
	want := make([]float64, len(z))
	for i, v := range z {
		want[i] = float64(scale)*float64(v) + float64(bias[i%10])
	}

	evalLogits := logitsOf(t, dir, x, batch)

	n, err := checkpoint.LoadNetwork(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := export.ONNX(n, export.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnx.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "deploy.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	exported := logitsOf(t, path, x, batch)

	meta := export.Metadata(n, export.Options{})
	if meta["head"] != "cosine" || meta["logit_adjustment"] == "" {
		t.Errorf("metadata head %q, logit_adjustment %q: want the cosine head and the adjustment recorded", meta["head"], meta["logit_adjustment"])
	}
	moved := 0.0
	for i, w := range want {
		moved = max(moved, math.Abs(w-float64(z[i])))
		for name, got := range map[string][]float32{"eval": evalLogits, "export": exported} {
			if d := math.Abs(float64(got[i]) - w); d > 1e-4*max(1, math.Abs(w)) {
				t.Errorf("%s logit %d: %v, want s·z − τ_p·log π = %v", name, i, got[i], w)
			}
		}
	}
	if moved < 1 {
		t.Errorf("the adjustment moves the logits by at most %v: the test cannot see it", moved)
	}
}

// logitsOf returns the logits of x that taetctl eval's attacks see for the
// target at path (a checkpoint or an exported ONNX file).
func logitsOf(t *testing.T, path string, x []float32, batch int) []float32 {
	t.Helper()
	target, err := evaluate.Open(path, batch, ort.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	o, err := target.Oracles(0)("ce")
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, batch*target.Classes)
	if err := o.Eval(x, make([]int64, batch), nil, logits, nil); err != nil {
		t.Fatal(err)
	}
	return logits
}
