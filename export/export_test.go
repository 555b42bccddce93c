package export_test

import (
	"errors"
	"github.com/taet-ml/taet/checkpoint"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/taet-ml/taet/export"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/onnxpb"
	"github.com/taet-ml/taet/onnx/ort"
)

// randomNetwork returns a network with torchvision's initialisation, then
// random BatchNorm affine parameters and statistics and small random values
// where the initialisation is all zeros (biases, the ViT's class token and
// head), so that folding and every logit are exercised.
func randomNetwork(t testing.TB, model string, o models.Options, image []int64) *checkpoint.Network {
	t.Helper()
	n := &checkpoint.Network{Model: model, Options: o, Image: image}
	info, err := n.Params()
	if err != nil {
		t.Fatal(err)
	}
	n.Values = graphs.InitParams(info, 7)
	rng := rand.New(rand.NewPCG(7, 8))
	for _, p := range info {
		v := n.Values[p.Name]
		if bn, ok := strings.CutSuffix(p.Name, ".running_mean"); ok {
			copy(v, uniform(rng, p.Size(), -0.2, 0.2))
			copy(n.Values[bn+".running_var"], uniform(rng, p.Size(), 0.5, 2))
			copy(n.Values[bn+".weight"], uniform(rng, p.Size(), 0.5, 1.5))
			copy(n.Values[bn+".bias"], uniform(rng, p.Size(), -0.2, 0.2))
		} else if !slices.ContainsFunc(v, func(f float32) bool { return f != 0 }) {
			copy(v, uniform(rng, p.Size(), -0.1, 0.1))
		}
	}
	return n
}

// smallNets are width-reduced versions of every architecture and stem.
var smallNets = []struct {
	name  string
	model string
	opts  models.Options
	image []int64
}{
	{"resnet18-cifar", "resnet18", models.Options{Classes: 10, ImageSize: 32, Width: 1.0 / 16}, []int64{3, 32, 32}},
	{"resnet18-imagenet", "resnet18", models.Options{Classes: 7, ImageSize: 64, Width: 1.0 / 16, Stem: models.ImageNetStem}, []int64{3, 64, 64}},
	{"resnet50-cifar", "resnet50", models.Options{Classes: 10, ImageSize: 32, Width: 1.0 / 16}, []int64{3, 32, 32}},
	{"vit", "vit", models.Options{Classes: 10, ImageSize: 32, Width: 1.0 / 16}, []int64{3, 32, 32}},
}

// TestRoundTrip exports each small net with and without BatchNorm folding,
// passes the file through the ONNX checker and runs it on ONNX Runtime at
// batch 1 and batch 7: the logits match the unfolded static eval graph.
func TestRoundTrip(t *testing.T) {
	ortest.Init(t)
	for _, tc := range smallNets {
		n := randomNetwork(t, tc.model, tc.opts, tc.image)
		for _, keep := range []bool{false, true} {
			name := tc.name + "/folded"
			if keep {
				name = tc.name + "/batchnorm"
			}
			t.Run(name, func(t *testing.T) {
				m, folded, err := export.ONNX(n, export.Options{KeepBatchNorm: keep, Version: "test"})
				if err != nil {
					t.Fatal(err)
				}
				s := export.Summarize(m)
				bns := s.Ops["BatchNormalization"]
				isResNet := strings.HasPrefix(tc.model, "resnet")
				switch {
				case !keep && (bns != 0 || isResNet != (folded > 0)):
					t.Errorf("folded %d, %d BatchNormalization nodes left", folded, bns)
				case keep && (folded != 0 || isResNet != (bns > 0)):
					t.Errorf("--no-fold-bn: folded %d, %d BatchNormalization nodes", folded, bns)
				}
				for _, node := range m.Graph.Node {
					if node.GetOpType() == "BatchNormalization" && len(node.Output) != 1 {
						t.Errorf("%s: a training-mode BatchNormalization (outputs %v)", node.GetName(), node.Output)
					}
				}
				for _, v := range slices.Concat(s.Inputs, s.Outputs) {
					if v.Shape[0].Param != export.BatchDim {
						t.Errorf("%s %v: want a dynamic batch %q", v.Name, v.Shape, export.BatchDim)
					}
				}
				if len(s.Inputs) != 1 || s.Inputs[0].Name != "x" || len(s.Outputs) != 1 || s.Outputs[0].Name != "logits" {
					t.Errorf("inputs %v, outputs %v: want x → logits", s.Inputs, s.Outputs)
				}
				ortest.Check(t, &graphs.Model{Proto: m})
				b, err := onnx.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				for _, batch := range []int{1, 7} {
					c, err := export.Verify(b, n, n.RandomInputs(batch, uint64(batch)), export.DefaultTolerance, ort.Options{Threads: 1})
					if err != nil {
						t.Fatalf("batch %d: %v", batch, err)
					}
					t.Logf("batch %d: max |Δ| %.2g, logit scale %.3g", batch, c.MaxAbsDiff, c.LogitScale)
					if c.Batch != batch || !(c.LogitScale > 0.01) {
						t.Errorf("batch %d: checked %+v: want non-trivial logits", batch, c)
					}
				}
			})
		}
	}
}

// TestVerifyCatchesAWrongModel verifies a model exported from other
// parameters against the network: ErrMismatch.
func TestVerifyCatchesAWrongModel(t *testing.T) {
	ortest.Init(t)
	tc := smallNets[0]
	n := randomNetwork(t, tc.model, tc.opts, tc.image)
	other := *n
	other.Values = map[string][]float32{}
	for k, v := range n.Values {
		other.Values[k] = slices.Clone(v)
	}
	other.Values["fc.bias"][0] += 0.5
	m, _, err := export.ONNX(&other, export.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnx.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	c, err := export.Verify(b, n, n.RandomInputs(2, 1), export.DefaultTolerance, ort.Options{Threads: 1})
	if !errors.Is(err, export.ErrMismatch) || c.MaxAbsDiff < 0.49 {
		t.Fatalf("Verify: %v, %+v: want ErrMismatch with a difference of 0.5", err, c)
	}
}

// TestSummarize checks inspect's view of an exported ResNet: the signature,
// opset, op histogram, parameter count and metadata.
func TestSummarize(t *testing.T) {
	tc := smallNets[0]
	n := randomNetwork(t, tc.model, tc.opts, tc.image)
	n.ClassNames = []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	info, err := n.Params()
	if err != nil {
		t.Fatal(err)
	}
	var all, bn int64
	for _, p := range info {
		all += p.Size()
		if strings.Contains(p.Name, "bn") || strings.Contains(p.Name, "downsample.1.") {
			bn += p.Size()
		}
	}
	for _, keep := range []bool{true, false} {
		m, folded, err := export.ONNX(n, export.Options{KeepBatchNorm: keep, Version: "9.9"})
		if err != nil {
			t.Fatal(err)
		}
		s := export.Summarize(m)
		want := all
		if !keep {
			want = all - bn + bn/4 // each BatchNorm's 4 vectors become one conv bias
		}
		if s.Parameters != want || s.Ops["Conv"] != 20 || (!keep && folded != 20) {
			t.Errorf("keep %v: %d parameters (want %d), %d Conv, folded %d", keep, s.Parameters, want, s.Ops["Conv"], folded)
		}
		if s.Opsets["ai.onnx"] != onnx.Opset || s.IRVersion != onnx.IRVersion || s.ProducerName != "taet" || s.ProducerVersion != "9.9" {
			t.Errorf("opsets %v, IR %d, producer %s %s", s.Opsets, s.IRVersion, s.ProducerName, s.ProducerVersion)
		}
		if got := export.Summarize(m).Inputs[0].Shape; len(got) != 4 || got[0].String() != "N" || got[1].Value != 3 {
			t.Errorf("input shape %v", got)
		}
		for k, v := range map[string]string{"model": "resnet18", "stem": "cifar", "num_classes": "10", "input_range": "[0,1]",
			"input_layout": "NCHW", "class_names": `["a","b","c","d","e","f","g","h","i","j"]`, "taet_version": "9.9",
			"batchnorm": map[bool]string{true: "kept", false: "folded"}[keep]} {
			if s.Metadata[k] != v {
				t.Errorf("metadata %s = %q, want %q", k, s.Metadata[k], v)
			}
		}
	}
}

// TestSummarizeForeignModel describes a hand-made model with an
// initializer listed as an input, an unknown dimension, a subgraph and a
// non-default domain.
func TestSummarizeForeignModel(t *testing.T) {
	f := int32(onnxpb.TensorProto_FLOAT)
	vi := func(name string, dims ...*onnxpb.TensorShapeProto_Dimension) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: &name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: &f, Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}}
	}
	dimV := func(v int64) *onnxpb.TensorShapeProto_Dimension {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	str := func(s string) *string { return &s }
	m := &onnxpb.ModelProto{
		IrVersion:   new(int64(7)),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: str(""), Version: new(int64(13))}, {Domain: str("com.microsoft"), Version: new(int64(1))}},
		Graph: &onnxpb.GraphProto{
			Name:        str("g"),
			Input:       []*onnxpb.ValueInfoProto{vi("a", &onnxpb.TensorShapeProto_Dimension{}, dimV(3)), vi("w", dimV(3), dimV(2))},
			Output:      []*onnxpb.ValueInfoProto{vi("y")},
			Initializer: []*onnxpb.TensorProto{{Name: str("w"), Dims: []int64{3, 2}, DataType: &f, FloatData: make([]float32, 6)}},
			Node: []*onnxpb.NodeProto{
				{OpType: str("MatMul"), Input: []string{"a", "w"}, Output: []string{"h"}},
				{OpType: str("Gelu"), Domain: str("com.microsoft"), Input: []string{"h"}, Output: []string{"g"}},
				{OpType: str("If"), Input: []string{"c"}, Output: []string{"y"}, Attribute: []*onnxpb.AttributeProto{
					{Name: str("then_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{{OpType: str("Identity")}}}},
					{Name: str("else_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{{OpType: str("Identity")}}}},
				}},
			},
		},
	}
	s := export.Summarize(m)
	if len(s.Inputs) != 1 || s.Inputs[0].Shape[0].String() != "?" || s.Inputs[0].Shape[1].String() != "3" {
		t.Errorf("inputs %+v: want only a [?, 3]", s.Inputs)
	}
	if s.Outputs[0].Shape == nil || len(s.Outputs[0].Shape) != 0 {
		t.Errorf("output shape %v: want a scalar", s.Outputs[0].Shape)
	}
	want := map[string]int{"MatMul": 1, "com.microsoft.Gelu": 1, "If": 1, "Identity": 2}
	if !maps.Equal(s.Ops, want) || s.Nodes != 3 || s.Parameters != 6 || s.Opsets["com.microsoft"] != 1 || s.Opsets["ai.onnx"] != 13 {
		t.Errorf("ops %v, %d nodes, %d parameters, opsets %v", s.Ops, s.Nodes, s.Parameters, s.Opsets)
	}
}
