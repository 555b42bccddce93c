package graphs_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/gradtest"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/onnx"
)

func TestEveryOpHasAGradDecision(t *testing.T) {
	ops := graphs.Ops()
	if len(ops) < 55 {
		t.Fatalf("only %d ops registered: %v", len(ops), ops)
	}
	for _, op := range ops {
		if graphs.OpGradKind(op) == graphs.GradUnknown {
			t.Errorf("op %s has no gradient decision: registerGrad, registerNoGrad or registerNotDifferentiable", op)
		}
	}
}

// buildErr runs fn in graphs.Build and returns its *BuildError, failing t if there is none.
func buildErr(t *testing.T, fn func(b *graphs.Builder)) *graphs.BuildError {
	t.Helper()
	_, err := graphs.Build("g", fn)
	var be *graphs.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("got error %v, want a *BuildError", err)
	}
	return be
}

func TestGradFailureModes(t *testing.T) {
	t.Run("non-scalar loss", func(t *testing.T) {
		buildErr(t, func(b *graphs.Builder) {
			x := b.Input("x", onnx.Float, 3)
			graphs.Grad(graphs.Exp(x), []*graphs.Value{x})
		})
	})
	t.Run("disconnected", func(t *testing.T) {
		buildErr(t, func(b *graphs.Builder) {
			x := b.Input("x", onnx.Float, 3)
			z := b.Input("z", onnx.Float, 3)
			graphs.Grad(graphs.ReduceSum(x, nil, false), []*graphs.Value{z})
		})
	})
	t.Run("integer wrt", func(t *testing.T) {
		buildErr(t, func(b *graphs.Builder) {
			x := b.Input("x", onnx.Float, 3)
			y := b.Input("y", onnx.Int64, 3)
			graphs.Grad(graphs.ReduceSum(x, nil, false), []*graphs.Value{y})
		})
	})
	t.Run("through a comparison only", func(t *testing.T) {
		// Greater passes no gradient, so the loss does not depend on x.
		buildErr(t, func(b *graphs.Builder) {
			x := b.Input("x", onnx.Float, 3)
			m := graphs.Cast(graphs.Greater(x, b.Scalar(0)), onnx.Float)
			graphs.Grad(graphs.ReduceSum(m, nil, false), []*graphs.Value{x})
		})
	})
	t.Run("rule that is not implemented names the node", func(t *testing.T) {
		be := buildErr(t, func(b *graphs.Builder) {
			x := b.Input("x", onnx.Float, 2, 3)
			var y *graphs.Value
			b.WithScope("pad", func() { y = graphs.Pad(x, []int64{1, 1, 1, 1}, "reflect", 0) })
			graphs.Grad(graphs.ReduceSum(y, nil, false), []*graphs.Value{x})
		})
		if be.Node != "pad/Pad_0" {
			t.Errorf("error names node %q, want pad/Pad_0: %v", be.Node, be)
		}
	})
}

func TestAllowDisconnectedGivesZeros(t *testing.T) {
	ortest.Init(t)
	m, err := graphs.Build("g", func(b *graphs.Builder) {
		x := b.Input("x", onnx.Float, 3)
		z := b.Input("z", onnx.Float, 2)
		g := graphs.Grad(graphs.ReduceSum(graphs.Mul(x, x), nil, false), []*graphs.Value{x, z}, graphs.AllowDisconnected())
		b.Output("x_grad", g[0])
		b.Output("z_grad", g[1])
	})
	if err != nil {
		t.Fatal(err)
	}
	out := ortest.Run(t, m, ortest.F32([]float32{1, 2, 3}, 3), ortest.F32([]float32{5, 6}, 2))
	if want := []float32{2, 4, 6}; !equal(out[0].F, want) {
		t.Errorf("x_grad = %v, want %v", out[0].F, want)
	}
	if want := []float32{0, 0}; !equal(out[1].F, want) {
		t.Errorf("z_grad = %v, want %v", out[1].F, want)
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStopGradientAndWithGrad(t *testing.T) {
	ortest.Init(t)
	m, err := graphs.Build("g", func(b *graphs.Builder) {
		x := b.Input("x", onnx.Float, 3)
		// L = Σ x·stop(x) + Σ 3·straight(x): dL/dx = x + (custom: 10·g) = x + 30
		stopped := graphs.StopGradient(x)
		custom := graphs.WithGrad(x, func(_, gy *graphs.Value) *graphs.Value { return graphs.Mul(gy, b.Scalar(10)) })
		l := graphs.Add(graphs.ReduceSum(graphs.Mul(x, stopped), nil, false),
			graphs.ReduceSum(graphs.Mul(custom, b.Scalar(3)), nil, false))
		b.Output("x_grad", graphs.Grad(l, []*graphs.Value{x})[0])
	})
	if err != nil {
		t.Fatal(err)
	}
	out := ortest.Run(t, m, ortest.F32([]float32{1, 2, 3}, 3))
	if want := []float32{31, 32, 33}; !equal(out[0].F, want) {
		t.Errorf("x_grad = %v, want %v", out[0].F, want)
	}
}

// TestGradOnlyTouchesThePath checks the reverse walk: nodes off the path from
// wrt to the loss get no gradient nodes, and a rule emits only the input
// gradients that are asked for (IfNeeded).
func TestGradOnlyTouchesThePath(t *testing.T) {
	for _, tc := range []struct {
		name        string
		wrtX        bool
		wantMatMuls int
	}{{"weights only", false, 1}, {"weights and input", true, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := graphs.Build("g", func(b *graphs.Builder) {
				x := b.Input("x", onnx.Float, 2, 3)
				w := b.Input("w", onnx.Float, 3, 4)
				b.Output("side", graphs.Exp(x)) // on no path to the loss
				var h *graphs.Value
				b.WithScope("layer", func() { h = graphs.Tanh(graphs.MatMul(x, w)) })
				wrt := []*graphs.Value{w}
				if tc.wrtX {
					wrt = append(wrt, x)
				}
				for i, g := range graphs.Grad(graphs.ReduceSum(h, nil, false), wrt) {
					b.Output(wrt[i].Name()+"_grad", g)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			matmuls := 0
			for _, n := range m.Proto.GetGraph().GetNode() {
				if strings.HasPrefix(n.GetName(), "Exp_0_Grad") {
					t.Errorf("gradient node %s for a node off the path", n.GetName())
				}
				if strings.HasPrefix(n.GetName(), "layer/MatMul_0_Grad/") && n.GetOpType() == "MatMul" {
					matmuls++
				}
			}
			if matmuls != tc.wantMatMuls {
				t.Errorf("MatMul rule emitted %d MatMuls, want %d", matmuls, tc.wantMatMuls)
			}
		})
	}
}

// TestFanOutAccumulates: x used three times; the gradients must add up.
func TestFanOutAccumulates(t *testing.T) {
	gradtest.Check(t, gradtest.Spec{
		Inputs: []in{{Name: "x", Shape: []int64{4}}},
		Build: func(v []*graphs.Value) *graphs.Value {
			x := v[0]
			return graphs.Add(graphs.Mul(x, graphs.Sigmoid(x)), graphs.Tanh(x))
		},
	})
}

// smallConvNet is conv → BN (training) → tanh → conv + residual → average
// pool → global average pool → linear, the shape of a ResNet block. It is
// smooth on purpose: a directional step moves every input at once and would
// cross ReLU and max-pool kinks, which makes the finite difference, not the
// gradient, wrong (those rules have elementwise checks away from ties).
func smallConvNet(v []*graphs.Value) *graphs.Value {
	x, w1, g1, b1, w2, fc, fcb := v[0], v[1], v[2], v[3], v[4], v[5], v[6]
	b := x.Builder()
	zeros := b.Constant([]int64{4}, []float32{0, 0, 0, 0})
	ones := b.Constant([]int64{4}, []float32{1, 1, 1, 1})
	h := graphs.Conv(x, w1, nil, graphs.ConvOpts{Pads: []int64{1, 1, 1, 1}})
	h, _, _ = graphs.BatchNormalizationTraining(h, g1, b1, zeros, ones, graphs.BatchNormOpts{})
	h = graphs.Tanh(h)
	h = graphs.Add(h, graphs.Conv(h, w2, nil, graphs.ConvOpts{Pads: []int64{1, 1, 1, 1}}))
	h = graphs.AveragePool(h, graphs.PoolOpts{Kernel: []int64{2, 2}, Strides: []int64{2, 2}})
	h = graphs.Flatten(graphs.GlobalAveragePool(h), 1)
	logits := graphs.Gemm(h, fc, fcb, graphs.GemmOpts{TransB: true})
	return logits
}

func TestSmallConvNetDirectional(t *testing.T) {
	inputs := []in{
		{Name: "x", Shape: []int64{4, 3, 8, 8}},
		{Name: "w1", Shape: []int64{4, 3, 3, 3}},
		{Name: "g1", Shape: []int64{4}},
		{Name: "b1", Shape: []int64{4}},
		{Name: "w2", Shape: []int64{4, 4, 3, 3}},
		{Name: "fc", Shape: []int64{5, 4}},
		{Name: "fcb", Shape: []int64{5}},
	}
	t.Run("parameters and input", func(t *testing.T) {
		gradtest.Directional(t, gradtest.DirSpec{Inputs: inputs, Build: smallConvNet})
	})
	t.Run("input only", func(t *testing.T) {
		only := append([]in(nil), inputs...)
		for i := 1; i < len(only); i++ {
			only[i].NoGrad = true
		}
		gradtest.Directional(t, gradtest.DirSpec{Inputs: only, Build: smallConvNet})
	})
}
