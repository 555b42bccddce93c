package graphs_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/onnx"
)

// tinyNet: conv → BN → tanh → average pool → global pool → linear, named like
// torchvision. Smooth on purpose: directional checks that move every input at
// once would cross ReLU and max-pool kinks (those rules have their own tests).
func tinyNet(v *graphs.Vars, x *graphs.Value) *graphs.Value {
	normal := func(rng *rand.Rand, d []float32) {
		for i := range d {
			d[i] = float32(rng.NormFloat64() * 0.3)
		}
	}
	w := v.Param("conv1.weight", []int64{4, x.Dim(1), 3, 3}, normal)
	h := graphs.Conv(x, w, nil, graphs.ConvOpts{Pads: []int64{1, 1, 1, 1}})
	h = graphs.Tanh(v.BatchNorm("bn1", h))
	h = graphs.AveragePool(h, graphs.PoolOpts{Kernel: []int64{2, 2}, Strides: []int64{2, 2}})
	h = graphs.Flatten(graphs.GlobalAveragePool(h), 1)
	fc := v.Param("fc.weight", []int64{3, 4}, normal)
	fcb := v.Param("fc.bias", []int64{3}, normal)
	return graphs.Gemm(h, fc, fcb, graphs.GemmOpts{TransB: true})
}

// meanCE is the mean cross-entropy of logits [N, K] against labels [N].
func meanCE(logits, y *graphs.Value) *graphs.Value {
	picked := graphs.GatherElements(graphs.LogSoftmax(logits, 1), graphs.Unsqueeze(y, 1), 1)
	return graphs.Neg(graphs.ReduceMean(picked, nil, false))
}

func tinySpec() graphs.GraphSpec {
	return graphs.GraphSpec{Name: "tiny", Batch: 4, Image: []int64{2, 6, 6}, Net: tinyNet, Loss: meanCE}
}

// feeds returns x, y and the parameters in the order of params.
func feeds(params []graphs.ParamInfo, values map[string][]float32, x []float32, y []int64) []ortest.Tensor {
	out := []ortest.Tensor{ortest.F32(x, 4, 2, 6, 6), ortest.I64(y, 4)}
	for _, p := range params {
		out = append(out, ortest.F32(values[p.Name], p.Shape...))
	}
	return out
}

func TestTrainStepGraph(t *testing.T) {
	ts, err := graphs.TrainStepGraph(tinySpec())
	if err != nil {
		t.Fatal(err)
	}
	wantOut := []string{"loss", "logits", "conv1.weight_grad", "bn1.weight_grad", "bn1.bias_grad", "fc.weight_grad", "fc.bias_grad",
		"bn1.running_mean_updated", "bn1.running_var_updated"}
	if got := ts.OutputNames(); !slices.Equal(got, wantOut) {
		t.Fatalf("outputs %v, want %v", got, wantOut)
	}
	ortest.Check(t, ts.Model)
	ortest.Init(t)
	rng := rand.New(rand.NewPCG(1, 2))
	values := graphs.InitParams(ts.Params, 7)
	x := make([]float32, 4*2*6*6)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := []int64{0, 2, 1, 2}
	out := ortest.Run(t, ts.Model, feeds(ts.Params, values, x, y)...)

	// Directional check of all parameter gradients on the assembled graph itself.
	eps := 1e-2
	dirs := map[string][]float32{}
	analytic := 0.0
	grad := 2 // outputs: loss, logits, then the gradients in Params order
	for _, p := range ts.Params {
		if !p.Trainable {
			continue
		}
		d := make([]float32, p.Size())
		for j := range d {
			d[j] = float32(rng.NormFloat64())
			analytic += float64(d[j]) * float64(out[grad].F[j])
		}
		dirs[p.Name] = d
		grad++
	}
	lossAt := func(sign float64) float64 {
		moved := map[string][]float32{}
		for name, v := range values {
			moved[name] = slices.Clone(v)
			for j := range dirs[name] {
				moved[name][j] += float32(sign * eps * float64(dirs[name][j]))
			}
		}
		return float64(ortest.Run(t, ts.Model, feeds(ts.Params, moved, x, y)...)[0].F[0])
	}
	numeric := (lossAt(1) - lossAt(-1)) / (2 * eps)
	if math.Abs(analytic-numeric) > 2e-3+2e-2*math.Abs(numeric) {
		t.Errorf("⟨∇θ loss, v⟩ = %.5g, finite difference %.5g", analytic, numeric)
	}

	// Running statistics: momentum 0.9 toward the batch mean of the conv output.
	mean := out[7].F
	for c, m := range mean {
		if m == 0 {
			t.Errorf("running mean of channel %d not updated", c)
		}
	}
}

func TestInputGradAndEvalGraphsAgree(t *testing.T) {
	spec := tinySpec()
	ig, err := graphs.InputGradGraph(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"loss", "logits", "x_grad"}; !slices.Equal(ig.OutputNames(), want) {
		t.Fatalf("outputs %v, want %v", ig.OutputNames(), want)
	}
	values := graphs.InitParams(ig.Params, 3)
	values["bn1.running_mean"] = []float32{0.1, -0.2, 0.3, 0}
	values["bn1.running_var"] = []float32{1.5, 0.5, 2, 1}
	ev, err := graphs.EvalGraph(spec, values)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.InputNames()) != 1 {
		t.Errorf("eval graph with values has inputs %v, want only x", ev.InputNames())
	}
	ortest.Check(t, ig.Model)
	ortest.Check(t, ev.Model)
	ortest.Init(t)
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 4*2*6*6)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := []int64{1, 0, 2, 1}
	got := ortest.Run(t, ig.Model, feeds(ig.Params, values, x, y)...)
	logits := ortest.Run(t, ev.Model, ortest.F32(x, 4, 2, 6, 6))[0].F
	for i := range logits {
		if math.Abs(float64(logits[i]-got[1].F[i])) > 1e-5 {
			t.Fatalf("logit %d: eval graph %v, input-gradient graph %v", i, logits[i], got[1].F[i])
		}
	}
	// x_grad against a central difference along a random direction.
	d := make([]float32, len(x))
	analytic := 0.0
	for i := range d {
		d[i] = float32(rng.NormFloat64())
		analytic += float64(d[i]) * float64(got[2].F[i])
	}
	eps := 1e-2
	lossAt := func(sign float64) float64 {
		xs := slices.Clone(x)
		for i := range xs {
			xs[i] += float32(sign * eps * float64(d[i]))
		}
		return float64(ortest.Run(t, ig.Model, feeds(ig.Params, values, xs, y)...)[0].F[0])
	}
	numeric := (lossAt(1) - lossAt(-1)) / (2 * eps)
	if math.Abs(analytic-numeric) > 1e-3+2e-2*math.Abs(numeric) {
		t.Errorf("⟨∇x loss, v⟩ = %.5g, finite difference %.5g", analytic, numeric)
	}
}

// TestFeatures: the features a Net declares for its logits are what a loss
// head reads back; logits without declared features, or features of the
// wrong shape, are BuildErrors.
func TestFeatures(t *testing.T) {
	_, err := graphs.Build("features", func(b *graphs.Builder) {
		h := b.Input("h", onnx.Float, 4, 3)
		z := graphs.WithFeatures(graphs.Relu(h), h)
		if graphs.Features(z) != h {
			t.Error("Features did not return the declared features")
		}
		b.Output("z", z)
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, fn := range map[string]func(b *graphs.Builder){
		"none declared": func(b *graphs.Builder) { graphs.Features(b.Input("z", onnx.Float, 4, 3)) },
		"wrong batch": func(b *graphs.Builder) {
			graphs.WithFeatures(b.Input("z", onnx.Float, 4, 3), b.Input("h", onnx.Float, 5, 3))
		},
	} {
		if _, err := graphs.Build(name, func(b *graphs.Builder) { fn(b); b.Output("x", b.Input("x", onnx.Float, 1)) }); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestPairTrainStepGraph checks a paired train step's contract without a
// runtime: x, y, x_adv, then the parameters as inputs; one "_updated" output
// per buffer however many passes ran, chained through every pass (clean,
// adversarial, clean: three BatchNormalization nodes for bn1, each reading
// the previous one's running mean); and that passes without both kinds,
// or of an unknown kind, are build errors.
func TestPairTrainStepGraph(t *testing.T) {
	both := func(clean, adv, y *graphs.Value) *graphs.Value { return graphs.Add(meanCE(clean, y), meanCE(adv, y)) }
	s := tinySpec()
	s.Pair = &graphs.PairHead{Loss: both, Passes: []graphs.Pass{graphs.CleanPass, graphs.AdversarialPass, graphs.CleanPass}}
	ts, err := graphs.TrainStepGraph(s)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ts.InputNames()[:4], []string{"x", "y", "x_adv", "conv1.weight"}; !slices.Equal(got, want) {
		t.Errorf("inputs %v…, want %v…", got, want)
	}
	plain, err := graphs.TrainStepGraph(tinySpec())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ts.OutputNames(), plain.OutputNames(); !slices.Equal(got, want) {
		t.Errorf("outputs %v, want the unpaired step's %v", got, want)
	}
	// each BatchNormalization's running-mean input and output, in order
	var meanIn, meanOut []string
	for _, n := range ts.Proto.GetGraph().GetNode() {
		if n.GetOpType() == "BatchNormalization" {
			meanIn, meanOut = append(meanIn, n.GetInput()[3]), append(meanOut, n.GetOutput()[1])
		}
	}
	if len(meanIn) != 3 || meanIn[0] != "bn1.running_mean" || meanIn[1] != meanOut[0] || meanIn[2] != meanOut[1] {
		t.Errorf("BatchNormalization running means in %v, out %v: want bn1.running_mean, then each pass's update of it", meanIn, meanOut)
	}
	ortest.Check(t, ts.Model)
	for _, passes := range [][]graphs.Pass{{graphs.CleanPass}, {graphs.AdversarialPass, graphs.AdversarialPass}, {graphs.CleanPass, 7}} {
		s.Pair = &graphs.PairHead{Loss: both, Passes: passes}
		if _, err := graphs.TrainStepGraph(s); err == nil {
			t.Errorf("passes %v: no build error", passes)
		}
	}
}
