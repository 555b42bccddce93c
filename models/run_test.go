package models_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/models"
)

// meanCE is the mean cross-entropy of logits [N, K] against labels [N].
func meanCE(logits, y *graphs.Value) *graphs.Value {
	picked := graphs.GatherElements(graphs.LogSoftmax(logits, 1), graphs.Unsqueeze(y, 1), 1)
	return graphs.Neg(graphs.ReduceMean(picked, nil, false))
}

// images returns n·c·h·w pixels uniform in [0, 1).
func images(rng *rand.Rand, n int64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}

func allFinite(d []float32) bool {
	return !slices.ContainsFunc(d, func(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) })
}

// smallNets are width-reduced versions of every architecture and stem.
var smallNets = []struct {
	name    string
	net     graphs.Net
	image   []int64
	classes int64
}{
	{"resnet18-cifar", models.ResNet(models.ResNetOpts{Depth: 18, Classes: 10, Stem: models.CIFARStem, Width: 1.0 / 16}), []int64{3, 32, 32}, 10},
	{"resnet50-imagenet", models.ResNet(models.ResNetOpts{Depth: 50, Classes: 7, Stem: models.ImageNetStem, Width: 1.0 / 16}), []int64{3, 32, 32}, 7},
	{"vit", models.ViT(models.ViTOpts{Patch: 4, Dim: 16, Depth: 2, Heads: 2, MLPDim: 32, Classes: 10}), []int64{1, 28, 28}, 10},
}

// TestSmallGraphs passes the train-step, input-gradient and eval graphs of
// the small nets through the ONNX checker, then runs a training step and
// the eval graph on random images: every output finite, logits [N, K].
func TestSmallGraphs(t *testing.T) {
	if testing.Short() {
		t.Skip("nine checker runs and six sessions; skipped with -short")
	}
	for _, tc := range smallNets {
		t.Run(tc.name, func(t *testing.T) {
			spec := graphs.GraphSpec{Name: tc.name, Batch: 4, Image: tc.image, Net: tc.net, Loss: meanCE}
			ts, err := graphs.TrainStepGraph(spec)
			if err != nil {
				t.Fatal(err)
			}
			ig, err := graphs.InputGradGraph(spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			values := graphs.InitParams(ts.Params, 1)
			ev, err := graphs.EvalGraph(spec, values)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []*graphs.Model{ts.Model, ig.Model, ev.Model} {
				ortest.Check(t, m)
			}
			ortest.Init(t)
			rng := rand.New(rand.NewPCG(1, 2))
			n := spec.Batch * tc.image[0] * tc.image[1] * tc.image[2]
			x := ortest.F32(images(rng, n), slices.Concat([]int64{spec.Batch}, tc.image)...)
			feeds := []ortest.Tensor{x, ortest.I64([]int64{0, 1, 2, 3}, spec.Batch)}
			for _, p := range ts.Params {
				feeds = append(feeds, ortest.F32(values[p.Name], p.Shape...))
			}
			for i, out := range ortest.Run(t, ts.Model, feeds...) {
				if !allFinite(out.F) {
					t.Errorf("train step: output %s not finite", ts.OutputNames()[i])
				}
			}
			logits := ortest.Run(t, ev.Model, x)[0]
			if !slices.Equal(logits.Shape, []int64{spec.Batch, tc.classes}) || !allFinite(logits.F) {
				t.Errorf("logits %v (shape %v), want finite [%d %d]", logits.F, logits.Shape, spec.Batch, tc.classes)
			}
		})
	}
}

// TestResNet18Eval builds the full ResNet-18 (CIFAR stem, 10 classes) with
// its weights as initializers, checks it and runs it on two images.
func TestResNet18Eval(t *testing.T) {
	spec := graphs.GraphSpec{Name: "resnet18", Batch: 2, Image: []int64{3, 32, 32}, Net: resnet18CIFAR(10)}
	values := graphs.InitParams(evalParams(t, spec.Net, spec.Batch, spec.Image...).Params, 1)
	ev, err := graphs.EvalGraph(spec, values)
	if err != nil {
		t.Fatal(err)
	}
	ortest.Check(t, ev.Model)
	ortest.Init(t)
	x := images(rand.New(rand.NewPCG(3, 4)), 2*3*32*32)
	logits := ortest.Run(t, ev.Model, ortest.F32(x, 2, 3, 32, 32))[0]
	if !slices.Equal(logits.Shape, []int64{2, 10}) || !allFinite(logits.F) {
		t.Errorf("logits %v (shape %v), want finite [2 10]", logits.F, logits.Shape)
	}
}

// TestViTMatchesTorchvision runs a tiny torchvision VisionTransformer's
// parameters through ViT and compares the logits with PyTorch's
// (testdata/torch_vit_tiny.py wrote them): the attention layout, GELU,
// LayerNorm ε and class-token handling must all agree.
func TestViTMatchesTorchvision(t *testing.T) {
	raw, err := os.ReadFile("testdata/vit_tiny_torch.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Params    map[string]string
		X, Logits string
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	floats := func(s string) []float32 {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out
	}
	values := map[string][]float32{}
	for name, s := range ref.Params {
		values[name] = floats(s)
	}
	net := models.ViT(models.ViTOpts{Patch: 4, Dim: 16, Depth: 2, Heads: 2, MLPDim: 32, Classes: 5})
	ev, err := graphs.EvalGraph(graphs.GraphSpec{Name: "vit", Batch: 2, Image: []int64{3, 16, 16}, Net: net}, values)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Params) != len(values) {
		t.Errorf("%d parameters, torchvision has %d", len(ev.Params), len(values))
	}
	ortest.Init(t)
	got := ortest.Run(t, ev.Model, ortest.F32(floats(ref.X), 2, 3, 16, 16))[0].F
	want := floats(ref.Logits)
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("logits %v, torchvision %v", got, want)
		}
	}
}
