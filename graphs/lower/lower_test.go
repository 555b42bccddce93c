package lower_test

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/graphs/lower"
	"github.com/taet-ml/taet/internal/gradtest"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/testenv"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/onnxpb"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/onnx/ort/onednn"
	"google.golang.org/protobuf/proto"
)

func TestBlockSize(t *testing.T) {
	ortest.Init(t)
	b, err := lower.BlockSize()
	if err != nil {
		t.Fatal(err)
	}
	if b != 8 && b != 16 {
		t.Fatalf("block size %d: want 8 (AVX2) or 16 (AVX-512)", b)
	}
	t.Logf("block size %d", b)
}

// resnetStep is the train-step graph of a ResNet-18 at half width (32…256
// channels, so every 3×3 conv but the stem is eligible for both block sizes)
// on 16×16 images, batch 4.
func resnetStep(t *testing.T) *graphs.Assembled {
	t.Helper()
	net, err := models.ByName("resnet18", models.Options{Classes: 10, ImageSize: 16, Width: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	g, err := graphs.TrainStepGraph(graphs.GraphSpec{Name: "step", Batch: 4, Image: []int64{3, 16, 16}, Net: net, Loss: losses.CrossEntropy})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// stepInputs returns inputs of resnetStep's graph g: images of uniform
// pixels from seed, labels, and parameters initialised with seed 3.
func stepInputs(g *graphs.Assembled, seed uint64) []ortest.Tensor {
	rng := rand.New(rand.NewPCG(5, seed))
	x := make([]float32, 4*3*16*16)
	for i := range x {
		x[i] = rng.Float32()
	}
	inputs := []ortest.Tensor{ortest.F32(x, 4, 3, 16, 16), ortest.I64([]int64{0, 3, 7, 9}, 4)}
	values := graphs.InitParams(g.Params, 3)
	for _, p := range g.Params {
		inputs = append(inputs, ortest.F32(values[p.Name], p.Shape...))
	}
	return inputs
}

// TestConvLowersEveryEligibleConv counts: ResNet-18 has 20 convolutions
// (stem, 16 in the blocks, 3 shortcuts); the train step adds one input
// gradient per stride-1 conv but the stem (ConvTranspose does the strided
// ones) and no Conv for weight gradients. Every Conv but the stem's (3 input
// channels) is lowered.
func TestConvLowersEveryEligibleConv(t *testing.T) {
	ortest.Init(t)
	g := resnetStep(t)
	convs := 0
	for _, n := range g.Proto.GetGraph().GetNode() {
		if n.GetOpType() == "Conv" {
			convs++
		}
	}
	low, n, err := lower.Conv(g.Model, 16)
	if err != nil {
		t.Fatal(err)
	}
	if n != convs-1 {
		t.Fatalf("lowered %d of %d convolutions, want all but the stem", n, convs)
	}
	for _, nd := range low.Proto.GetGraph().GetNode() {
		if nd.GetOpType() == "Conv" && nd.GetDomain() == "" {
			if w, _ := g.ValueShape(nd.GetInput()[1]); w[1] != 3 {
				t.Errorf("conv %s with weights %v left standard", nd.GetName(), w)
			}
		}
	}
}

// TestConvLeavesConstantWeightsToTheRuntime: with the parameters stored in
// the graph (attack and evaluation sessions), the forward convolutions and
// the input-gradient ones (whose weights are flipped initializers) are the
// runtime's to block and fuse; nothing is lowered.
func TestConvLeavesConstantWeightsToTheRuntime(t *testing.T) {
	net, err := models.ByName("resnet18", models.Options{Classes: 10, ImageSize: 16, Width: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	spec := graphs.GraphSpec{Name: "attack", Batch: 2, Image: []int64{3, 16, 16}, Net: net, Loss: losses.CrossEntropy}
	withInputs, err := graphs.InputGradGraph(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := graphs.InputGradGraph(spec, graphs.InitParams(withInputs.Params, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, n, err := lower.Conv(withInputs.Model, 16); err != nil || n == 0 {
		t.Fatalf("weights as inputs: lowered %d convolutions (%v), want some", n, err)
	}
	if _, n, err := lower.Conv(stored.Model, 16); err != nil || n != 0 {
		t.Fatalf("weights stored in the graph: lowered %d convolutions (%v), want none", n, err)
	}
}

// TestConvGivesTheSameStep runs the standard and the lowered train step on
// the same batch: loss, logits, every gradient and BatchNorm statistic agree
// to float32 rounding (relative 1e-4 of each output's scale).
func TestConvGivesTheSameStep(t *testing.T) {
	ortest.Init(t)
	g := resnetStep(t)
	block, err := lower.BlockSize()
	if err != nil {
		t.Fatal(err)
	}
	low, n, err := lower.Conv(g.Model, block)
	if err != nil || n == 0 {
		t.Fatalf("lowered %d convs: %v", n, err)
	}
	inputs := stepInputs(g, 5)
	want := ortest.RunWith(t, g.Model, ort.Standard, inputs...)
	got := ortest.RunWith(t, low, ort.Standard, inputs...)
	for i, o := range g.Outputs {
		scale := 0.0
		for _, v := range want[i].F {
			scale = max(scale, math.Abs(float64(v)))
		}
		for j := range want[i].F {
			if d := math.Abs(float64(got[i].F[j] - want[i].F[j])); !(d <= 1e-4*scale+1e-7) {
				t.Fatalf("%s[%d]: lowered %g, standard %g (scale %g)", o.Name, j, got[i].F[j], want[i].F[j], scale)
			}
		}
	}
}

// TestForSessionKeepsCUDAAndStandardGraphs: only CPU sessions with blocked
// or onednn kernels get the lowered graph, and only onednn ones the oneDNN
// ops: one per convolution weight and input gradient (all 20 convolutions
// but the stem's input gradient) and per ReLU (17).
func TestForSessionKeepsCUDAAndStandardGraphs(t *testing.T) {
	ortest.Init(t)
	g := resnetStep(t)
	plain, err := g.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	_, noDNN := ort.OneDNN.Resolve()
	for _, tc := range []struct {
		opts    ort.Options
		lowered bool
		onednn  map[string]int // ops of the onednn domain
	}{
		{ort.Options{Kernels: ort.Blocked}, true, map[string]int{}},
		{ort.Options{Kernels: ort.OneDNN}, true, map[string]int{onednn.OpConv: 20, onednn.OpBatchNormTraining: 20, onednn.OpBatchNormTrainingGrad: 20, onednn.OpConvWeightGrad: 20, onednn.OpConvInputGrad: 19, onednn.OpReluGrad: 17}},
		{ort.Options{Kernels: ort.Standard}, false, map[string]int{}},
		{ort.Options{Device: ort.Device{CUDA: true}}, false, map[string]int{}},
		{ort.Options{Device: ort.Device{CUDA: true}, Kernels: ort.OneDNN}, false, map[string]int{}},
	} {
		if tc.opts.Kernels == ort.OneDNN && !tc.opts.Device.CUDA && noDNN != nil {
			testenv.Missing(t, "needs oneDNN (apt-get install libdnnl2): %v", noDNN)
		}
		b, err := lower.ForSession(g.Model, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if lowered := string(b) != string(plain); lowered != tc.lowered {
			t.Errorf("%v, %v: lowered %v, want %v", tc.opts.Device, tc.opts.Kernels, lowered, tc.lowered)
		}
		var p onnxpb.ModelProto
		if err := proto.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, n := range p.GetGraph().GetNode() {
			if n.GetDomain() == onednn.Domain {
				got[n.GetOpType()]++
			}
		}
		if !maps.Equal(got, tc.onednn) {
			t.Errorf("%v, %v: oneDNN ops %v, want %v", tc.opts.Device, tc.opts.Kernels, got, tc.onednn)
		}
	}
}

// convStack is a small network whose convolutions all have 16 or 32
// channels, so every one of them, and the input gradient of the stride-1
// one, is lowered for both block sizes (8 and 16).
func convStack(v []*graphs.Value) *graphs.Value {
	x, w1, w2 := v[0], v[1], v[2]
	h := graphs.Conv(x, w1, nil, graphs.ConvOpts{Pads: []int64{1, 1, 1, 1}})
	// Separate running statistics: the runtime may update them in place.
	h, _, _ = graphs.BatchNormalizationTraining(h, v[3], v[4], v[5], v[6], graphs.BatchNormOpts{})
	h = graphs.Tanh(h)
	return graphs.Tanh(graphs.Conv(h, w2, nil, graphs.ConvOpts{Strides: []int64{2, 2}, Pads: []int64{1, 1, 1, 1}}))
}

var convStackInputs = []gradtest.Input{
	{Name: "x", Shape: []int64{2, 16, 6, 6}},
	{Name: "w1", Shape: []int64{16, 16, 3, 3}, Transform: func(v float64) float64 { return v / 12 }},
	{Name: "w2", Shape: []int64{32, 16, 3, 3}, Transform: func(v float64) float64 { return v / 12 }},
	{Name: "scale", Shape: []int64{16}, Values: slices.Repeat([]float32{1}, 16), NoGrad: true},
	{Name: "bias", Shape: []int64{16}, Values: make([]float32, 16), NoGrad: true},
	{Name: "running_mean", Shape: []int64{16}, Values: make([]float32, 16), NoGrad: true},
	{Name: "running_var", Shape: []int64{16}, Values: slices.Repeat([]float32{1}, 16), NoGrad: true},
}

// TestGradientsOfLoweredConvs checks the gradients a CPU session computes
// (ortest runs lowered graphs) against finite differences, on a graph in
// which the lowering does replace the convolutions.
func TestGradientsOfLoweredConvs(t *testing.T) {
	ortest.Init(t)
	m, err := graphs.Build("grad", func(b *graphs.Builder) {
		var in []*graphs.Value
		for _, i := range convStackInputs {
			in = append(in, b.Input(i.Name, onnx.Float, i.Shape...))
		}
		y := graphs.ReduceSum(convStack(in), nil, false)
		for i, g := range graphs.Grad(y, in[:3]) {
			b.Output(convStackInputs[i].Name+"_grad", g)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range []int64{8, 16} {
		// two forward convs, the stride-1 input gradient (the stride-2 one is a ConvTranspose)
		if _, n, err := lower.Conv(m, block); err != nil || n != 3 {
			t.Fatalf("block %d: lowered %d convolutions (%v), want 3", block, n, err)
		}
	}
	gradtest.Directional(t, gradtest.DirSpec{Inputs: convStackInputs, Build: convStack, Repeats: 4})
	gradtest.Check(t, gradtest.Spec{
		Inputs: []gradtest.Input{{Name: "x", Shape: []int64{1, 16, 3, 3}}, {Name: "w", Shape: []int64{16, 16, 3, 3}}},
		Step:   1e-2, // bilinear: central differences are exact, a larger step beats float32 rounding
		Build: func(v []*graphs.Value) *graphs.Value {
			return graphs.Conv(v[0], v[1], nil, graphs.ConvOpts{Pads: []int64{1, 1, 1, 1}})
		},
	})
}
