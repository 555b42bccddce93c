package graphs_test

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/testenv"
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

// TestOpVersionsMatchTheSchema asks the ONNX package (Debian's python3-onnx)
// which version of each op the model opset defines.
func TestOpVersionsMatchTheSchema(t *testing.T) {
	script := `import sys, onnx.defs as d
for op in sys.argv[2:]:
    print(op, d.get_schema(op, int(sys.argv[1])).since_version)`
	for _, opset := range []int{onnx.Opset, 18} {
		var ops []string
		for _, op := range graphs.Ops() {
			if onnx.MinOpset(op) == int64(opset) {
				ops = append(ops, op)
			}
		}
		out, err := exec.Command("/usr/bin/python3", append([]string{"-c", script, fmt.Sprint(opset)}, ops...)...).CombinedOutput()
		if err != nil {
			if opset > onnx.Opset {
				continue // python3-onnx 1.12 knows opsets up to 17 only
			}
			testenv.Missing(t, "needs python3-onnx: %v\n%s", err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var op string
			var v int
			if _, err := fmt.Sscan(line, &op, &v); err != nil {
				t.Fatalf("bad schema line %q", line)
			}
			if got := graphs.OpVersion(op); got != v {
				t.Errorf("%s: builder emits version %d, opset %d defines %d", op, got, opset, v)
			}
		}
	}
}
