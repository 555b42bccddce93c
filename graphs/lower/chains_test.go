package lower_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/graphs/lower"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx/onnxpb"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/onnx/ort/onednn"
	"google.golang.org/protobuf/proto"
)

// attackGraph returns the input-gradient graph of a CIFAR-like ResNet-18
// (width 0.5: 32 to 256 channels, 16×16 images, batch 3) with its
// parameters stored and running variances away from 1, and its inputs.
func attackGraph(t *testing.T) (*graphs.Assembled, []ortest.Tensor) {
	t.Helper()
	net, err := models.ByName("resnet18", models.Options{Classes: 10, ImageSize: 16, Width: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	spec := graphs.GraphSpec{Name: "attack", Batch: 3, Image: []int64{3, 16, 16}, Net: net, Loss: losses.CrossEntropy}
	step, err := graphs.TrainStepGraph(spec)
	if err != nil {
		t.Fatal(err)
	}
	params := graphs.InitParams(step.Params, 1)
	for name, v := range params { // statistics away from 0 and 1, so that folding them matters
		for i := range v {
			switch {
			case strings.HasSuffix(name, "running_var"):
				v[i] = 0.5 + float32(i%7)/4
			case strings.HasSuffix(name, "running_mean"):
				v[i] = float32(i%5)/10 - 0.2
			}
		}
	}
	g, err := graphs.InputGradGraph(spec, params)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, 4))
	x := make([]float32, 3*3*16*16)
	for i := range x {
		x[i] = rng.Float32()
	}
	return g, []ortest.Tensor{ortest.F32(x, 3, 3, 16, 16), ortest.I64([]int64{1, 4, 9}, 3)}
}

// chainedAttack returns attackGraph's graph and inputs, the block size, and
// the graph after the onednn passes an attack needs before BlockedChains,
// and then BlockedChains.
func chainedAttack(t *testing.T) (*graphs.Assembled, []ortest.Tensor, int64, *graphs.Model) {
	t.Helper()
	initOneDNN(t)
	g, in := attackGraph(t)
	block, err := lower.BlockSize()
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := lower.ConvGrads(g.Model, allGrads)
	if err == nil {
		m, _, err = lower.FoldScales(m)
	}
	if err == nil {
		m, _, err = lower.ReluGrads(m)
	}
	if err != nil {
		t.Fatal(err)
	}
	low, _, err := lower.BlockedChains(m, block)
	if err != nil {
		t.Fatal(err)
	}
	return g, in, block, low
}

// TestBlockedChainsKeepTheAttackBlocked: in an attack's input-gradient graph
// of ResNet-18, BlockedChains writes the 19 convolutions after the stem
// blocked (each with its BatchNorm, and its residual Add and ReLU where they
// follow), every input gradient reads its output gradient blocked, and the
// layout changes three times in all: into it after the stem and for the
// pooling's gradient, out of it for the pooling. The logits and the input
// gradient are the standard graph's.
func TestBlockedChainsKeepTheAttackBlocked(t *testing.T) {
	g, in, block, low := chainedAttack(t)
	counts := map[string]int{}
	for _, nd := range low.Proto.GetGraph().GetNode() {
		counts[nd.GetDomain()+"."+nd.GetOpType()]++
		if nd.GetDomain() == onednn.Domain && nd.GetOpType() == onednn.OpConvInputGrad &&
			!slices.ContainsFunc(nd.GetAttribute(), func(a *onnxpb.AttributeProto) bool { return a.GetName() == "block" && a.GetI() == block }) {
			t.Errorf("%s reads its output gradient plain", nd.GetName())
		}
	}
	if counts[lower.Domain+".Conv"] != 19 {
		t.Errorf("%d blocked convolutions, want 19", counts[lower.Domain+".Conv"])
	}
	reorders := counts[lower.Domain+".ReorderInput"] + counts[lower.Domain+".ReorderOutput"]
	if reorders != 3 || counts[".Conv"] != 1 || counts[".BatchNormalization"] != 1 {
		t.Errorf("%d reorders, %d standard Convs and %d BatchNorms left, want 3, 1 and 1 (the stem's): %v",
			reorders, counts[".Conv"], counts[".BatchNormalization"], counts)
	}
	want := ortest.RunWith(t, g.Model, ort.Standard, in...)
	got := ortest.RunWith(t, g.Model, ort.OneDNN, in...) // ForSession applies BlockedChains
	for i, o := range g.Outputs {
		if err := closeTo(got[i].F, want[i].F); err != nil {
			t.Errorf("%s%s", o.Name, err)
		}
	}
}

// TestConvInputGradReadsTheBlockedLayout: without its block attribute, an
// input gradient of the blocked chain reads its blocked output gradient as
// plain, and the input gradient comes out wrong: the kernel honours the
// attribute, and the comparison above would catch a layout mixed up.
func TestConvInputGradReadsTheBlockedLayout(t *testing.T) {
	g, in, _, low := chainedAttack(t)
	want := ortest.RunWith(t, g.Model, ort.Standard, in...)
	p := proto.Clone(low.Proto).(*onnxpb.ModelProto)
	for _, nd := range p.GetGraph().GetNode() {
		if nd.GetDomain() == onednn.Domain && nd.GetOpType() == onednn.OpConvInputGrad && strings.Contains(nd.GetName(), "layer2.1") {
			nd.Attribute = slices.DeleteFunc(nd.Attribute, func(a *onnxpb.AttributeProto) bool { return a.GetName() == "block" })
		}
	}
	got, err := ortest.RunErr(low.WithProto(p), ort.OneDNN, in...)
	out := slices.Index(g.OutputNames(), "x_grad")
	if err == nil && closeTo(got[out].F, want[out].F) == nil {
		t.Error("the input gradient is right with layer2.1's input gradients reading blocked values as plain")
	}
}

// TestBlockedChainsGiveTheSameTrainStep runs the standard train step of a
// half-width ResNet-18 and the one a onednn session runs, whose chains stay
// blocked from the stem's output to the pooling and back (two reorders in
// all, plus one for the ReLU the pooling's gradient reads): loss, logits,
// every gradient and BatchNorm statistic agree to float32 rounding.
func TestBlockedChainsGiveTheSameTrainStep(t *testing.T) {
	initOneDNN(t)
	g := resnetStep(t)
	bytes, err := lower.ForSession(g.Model, ort.Options{Kernels: ort.OneDNN})
	if err != nil {
		t.Fatal(err)
	}
	var p onnxpb.ModelProto
	if err := proto.Unmarshal(bytes, &p); err != nil {
		t.Fatal(err)
	}
	reorders := 0
	for _, nd := range p.GetGraph().GetNode() {
		if nd.GetDomain() == lower.Domain && strings.HasPrefix(nd.GetOpType(), "Reorder") {
			reorders++
			t.Logf("%s %v -> %v", nd.GetOpType(), nd.GetInput(), nd.GetOutput())
		}
	}
	if reorders > 3 {
		t.Errorf("%d reorders in the train step, want at most 3", reorders)
	}
	inputs := stepInputs(g, 6)
	want := ortest.RunWith(t, g.Model, ort.Standard, inputs...)
	got := ortest.RunWith(t, g.Model, ort.OneDNN, inputs...)
	for i, o := range g.Outputs {
		if err := closeTo(got[i].F, want[i].F); err != nil {
			t.Errorf("%s%s", o.Name, err)
		}
	}
}
