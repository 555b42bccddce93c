package graphs_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/onnx"
)

// smallNet builds a conv → BN → relu → pool → linear graph touching most
// builder features (scopes, initializers, multi-output nodes, opset lowering).
func smallNet(b *graphs.Builder) {
	x := b.Input("x", onnx.Float, 2, 3, 8, 8)
	w := b.Initializer("conv.weight", []int64{4, 3, 3, 3}, make([]float32, 4*3*3*3))
	var h *graphs.Value
	b.WithScope("stem", func() {
		h = graphs.Conv(x, w, nil, graphs.ConvOpts{Pads: []int64{1, 1, 1, 1}})
		ones := b.Constant([]int64{4}, []float32{1, 1, 1, 1})
		zeros := b.Constant([]int64{4}, []float32{0, 0, 0, 0})
		h, _, _ = graphs.BatchNormalizationTraining(h, ones, zeros, zeros, ones, graphs.BatchNormOpts{})
		h = graphs.Relu(h)
	})
	h = graphs.ReduceMean(h, []int64{2, 3}, false)
	b.Output("logits", h)
}

func TestBuildIsDeterministic(t *testing.T) {
	var out [][]byte
	for range 2 {
		m, err := graphs.Build("net", smallNet)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Error("building the same graph twice gave different bytes")
	}
}

func TestNodeNamesFollowScopes(t *testing.T) {
	m, err := graphs.Build("net", smallNet)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range m.Proto.GetGraph().GetNode() {
		names = append(names, n.GetName())
	}
	want := map[string]bool{"stem/Conv_0": true, "stem/BatchNormalization_0": true, "stem/Relu_0": true, "ReduceMean_0": true, "logits_Output": true}
	for _, n := range names {
		delete(want, n)
	}
	if len(want) > 0 {
		t.Errorf("missing node names %v in %v", want, names)
	}
}

func TestBuildErrorNamesTheNode(t *testing.T) {
	_, err := graphs.Build("bad", func(b *graphs.Builder) {
		x := b.Input("x", onnx.Float, 2, 3)
		y := b.Input("y", onnx.Float, 4, 5)
		b.WithScope("head", func() { b.Output("z", graphs.Add(x, y)) })
	})
	var be *graphs.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("got %v, want a *BuildError", err)
	}
	if be.Node != "head/Add_0" || be.Op != "Add" {
		t.Errorf("BuildError names node %q op %q, want head/Add_0 Add", be.Node, be.Op)
	}
}

func TestUnusedNodesArePruned(t *testing.T) {
	m, err := graphs.Build("prune", func(b *graphs.Builder) {
		x := b.Input("x", onnx.Float, 3)
		graphs.Exp(x) // dead
		b.Output("y", graphs.Neg(x))
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range m.Proto.GetGraph().GetNode() {
		if n.GetOpType() == "Exp" {
			t.Error("dead Exp node was serialised")
		}
	}
}

func TestSmallNetRunsAndChecks(t *testing.T) {
	m, err := graphs.Build("net", smallNet)
	if err != nil {
		t.Fatal(err)
	}
	ortest.Check(t, m)
	ortest.Init(t)
	x := make([]float32, 2*3*8*8)
	out := ortest.Run(t, m, ortest.F32(x, 2, 3, 8, 8))
	if len(out[0].F) != 8 {
		t.Fatalf("logits: got %d values, want 8", len(out[0].F))
	}
}
