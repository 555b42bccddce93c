package lower_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/graphs/lower"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/testenv"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/onnxpb"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/onnx/ort/onednn"
	"google.golang.org/protobuf/proto"
)

// initOneDNN initialises the runtime and oneDNN or skips t saying why.
func initOneDNN(t *testing.T) {
	t.Helper()
	ortest.Init(t)
	if _, err := ort.OneDNNVersion(); err != nil {
		testenv.Missing(t, "needs oneDNN (apt-get install libdnnl2): %v", err)
	}
}

// wgradCase is one convolution whose weight gradient the kernel computes.
type wgradCase struct {
	name                string
	n, c, h, w, m, k    int64
	stride, pad, dilate int64
	group               int64
	transpose           bool    // the weight gradient of a ConvTranspose (x and dy swap roles)
	pads                []int64 // [top, left, bottom, right] instead of pad on every side
}

// opts returns tc's convolution attributes.
func (tc wgradCase) opts() graphs.ConvOpts {
	pads := tc.pads
	if pads == nil {
		pads = []int64{tc.pad, tc.pad, tc.pad, tc.pad}
	}
	return graphs.ConvOpts{Strides: []int64{tc.stride, tc.stride}, Pads: pads,
		Dilations: []int64{tc.dilate, tc.dilate}, Group: tc.group}
}

var wgradCases = []wgradCase{
	{name: "3x3", n: 2, c: 16, h: 8, w: 8, m: 16, k: 3, stride: 1, pad: 1, dilate: 1, group: 1},
	{name: "3x3/stride2", n: 2, c: 8, h: 9, w: 9, m: 16, k: 3, stride: 2, pad: 1, dilate: 1, group: 1},
	{name: "3x3/pad0", n: 3, c: 5, h: 7, w: 6, m: 4, k: 3, stride: 1, pad: 0, dilate: 1, group: 1},
	{name: "3x3/dilation2", n: 2, c: 6, h: 9, w: 9, m: 6, k: 3, stride: 1, pad: 2, dilate: 2, group: 1},
	{name: "3x3/group2", n: 2, c: 8, h: 6, w: 6, m: 12, k: 3, stride: 1, pad: 1, dilate: 1, group: 2},
	{name: "3x3/depthwise", n: 2, c: 8, h: 6, w: 6, m: 8, k: 3, stride: 1, pad: 1, dilate: 1, group: 8},
	{name: "1x1", n: 2, c: 16, h: 5, w: 5, m: 32, k: 1, stride: 1, pad: 0, dilate: 1, group: 1},
	{name: "1x1/stride2", n: 2, c: 16, h: 8, w: 8, m: 32, k: 1, stride: 2, pad: 0, dilate: 1, group: 1},
	{name: "7x7/stride2", n: 2, c: 3, h: 16, w: 16, m: 8, k: 7, stride: 2, pad: 3, dilate: 1, group: 1},
	{name: "3x3/asymmetric-pads", n: 2, c: 4, h: 7, w: 8, m: 4, k: 3, stride: 1, dilate: 1, group: 1, pads: []int64{0, 1, 2, 0}},
	{name: "convtranspose/stride2", n: 2, c: 8, h: 4, w: 4, m: 6, k: 3, stride: 2, pad: 1, dilate: 1, group: 1, transpose: true},
}

// model returns the graph of tc's gradients: inputs x, w and dy (the
// output gradient), outputs w_grad and x_grad of Σ(conv(x; w)·dy), and the
// inputs' values.
func (tc wgradCase) model(t *testing.T) (*graphs.Model, []ortest.Tensor) {
	t.Helper()
	o := tc.opts()
	var shapes [3][]int64
	m, err := graphs.Build(tc.name, func(b *graphs.Builder) {
		x := b.Input("x", onnx.Float, tc.n, tc.c, tc.h, tc.w)
		var w, y *graphs.Value
		if tc.transpose {
			w = b.Input("w", onnx.Float, tc.c, tc.m/tc.group, tc.k, tc.k)
			y = graphs.ConvTranspose(x, w, nil, o)
		} else {
			w = b.Input("w", onnx.Float, tc.m, tc.c/tc.group, tc.k, tc.k)
			y = graphs.Conv(x, w, nil, o)
		}
		dy := b.Input("dy", onnx.Float, y.Shape()...)
		grads := graphs.Grad(graphs.ReduceSum(graphs.Mul(y, dy), nil, false), []*graphs.Value{w, x})
		b.Output("w_grad", grads[0])
		b.Output("x_grad", grads[1])
		shapes = [3][]int64{x.Shape(), w.Shape(), y.Shape()}
	})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, uint64(len(tc.name))))
	var in []ortest.Tensor
	for _, s := range shapes {
		v := make([]float32, product(s))
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		in = append(in, ortest.F32(v, s...))
	}
	return m, in
}

func product(s []int64) int64 {
	p := int64(1)
	for _, d := range s {
		p *= d
	}
	return p
}

// close reports whether got equals want to float32 rounding of sums of
// products (relative 1e-4 of the largest |want|).
func closeTo(got, want []float32) error {
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-4*scale+1e-6) {
			return fmt.Errorf("[%d]: %g, want %g (scale %g)", i, got[i], want[i], scale)
		}
	}
	return nil
}

// allGrads gives every convolution gradient to oneDNN.
func allGrads(graphs.ConvGrad) bool { return true }

// TestConvGradsMatchTheStandardSubgraphs runs each case's weight and input
// gradients as written (k² strided Slices and Gemms; a Conv with flipped
// weights or a ConvTranspose) and on oneDNN's backward convolutions: they
// agree, and the lowering replaced both subgraphs (the weight gradient only
// for a ConvTranspose, whose input gradient is a plain Conv), leaving no
// Gemm, Slice or ConvTranspose behind.
func TestConvGradsMatchTheStandardSubgraphs(t *testing.T) {
	initOneDNN(t)
	for _, tc := range wgradCases {
		t.Run(tc.name, func(t *testing.T) {
			m, in := tc.model(t)
			low, n, err := lower.ConvGrads(m, allGrads)
			if want := map[bool]int{false: 2, true: 1}[tc.transpose]; err != nil || n != want {
				t.Fatalf("replaced %d gradients (%v), want %d", n, err, want)
			}
			for _, nd := range low.Proto.GetGraph().GetNode() {
				if op := nd.GetOpType(); op == "Gemm" || op == "Slice" || op == "ConvTranspose" || op == "Conv" && !tc.transpose {
					t.Errorf("%s %s left in the lowered graph", op, nd.GetName())
				}
			}
			want := ortest.RunWith(t, m, ort.Standard, in...)
			got := ortest.RunWith(t, m, ort.OneDNN, in...)
			for i, o := range m.Outputs {
				if err := closeTo(got[i].F, want[i].F); err != nil {
					t.Errorf("%s%s", o.Name, err)
				}
			}
		})
	}
}

// TestConvGradsWrongAttributesFail: the comparison above catches either
// kernel getting a wrong stride, padding, dilation or group count: each is
// either refused (the shapes do not fit) or gives other numbers. The
// mutations keep the shapes where they can (pads shifted between top and
// bottom), so the numbers themselves must differ.
func TestConvGradsWrongAttributesFail(t *testing.T) {
	initOneDNN(t)
	mutations := []struct {
		attr   string
		change func(tc wgradCase, a *onnxpb.AttributeProto) bool // false: not applicable to tc
	}{
		{"strides", func(tc wgradCase, a *onnxpb.AttributeProto) bool {
			a.Ints = []int64{tc.stride + 1, tc.stride}
			return true
		}},
		{"pads", func(tc wgradCase, a *onnxpb.AttributeProto) bool {
			if tc.pad == 0 && tc.pads == nil {
				a.Ints = []int64{1, 0, 0, 0} // one more row: a shape that does not fit
				return true
			}
			p := tc.opts().Pads
			a.Ints = []int64{p[0] + 1, p[1], p[2] - 1, p[3]} // same output size, shifted window
			if p[2] == 0 {
				a.Ints = []int64{p[0] - 1, p[1], p[2] + 1, p[3]}
			}
			return true
		}},
		{"dilations", func(tc wgradCase, a *onnxpb.AttributeProto) bool {
			if tc.k == 1 {
				return false // a 1×1 kernel has no gaps to dilate
			}
			a.Ints = []int64{tc.dilate%2 + 1, tc.dilate}
			return true
		}},
		{"group", func(tc wgradCase, a *onnxpb.AttributeProto) bool {
			a.I = ptr(map[bool]int64{true: 2, false: 1}[tc.group == 1])
			return true
		}},
	}
	for _, tc := range wgradCases {
		m, in := tc.model(t)
		want := ortest.RunWith(t, m, ort.Standard, in...)
		low, _, err := lower.ConvGrads(m, allGrads)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range []string{onednn.OpConvWeightGrad, onednn.OpConvInputGrad} {
			out := slices.Index(m.OutputNames(), map[string]string{onednn.OpConvWeightGrad: "w_grad", onednn.OpConvInputGrad: "x_grad"}[op])
			for _, mu := range mutations {
				p := proto.Clone(low.Proto).(*onnxpb.ModelProto) // the lowered graph shares m's nodes
				var a *onnxpb.AttributeProto
				for _, nd := range p.GetGraph().GetNode() {
					if nd.GetDomain() == onednn.Domain && nd.GetOpType() == op {
						a = nd.Attribute[slices.IndexFunc(nd.Attribute, func(a *onnxpb.AttributeProto) bool { return a.GetName() == mu.attr })]
					}
				}
				if a == nil || !mu.change(tc, a) {
					continue // no such kernel (a ConvTranspose's input gradient), or no such mutation
				}
				got, err := ortest.RunErr(low.WithProto(p), ort.OneDNN, in...)
				if err == nil && closeTo(got[out].F, want[out].F) == nil {
					t.Errorf("%s: %s with a wrong %s (%v) gives the right gradient", tc.name, op, mu.attr, a)
				}
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestReluGradsMatchTheStandardSubgraph: oneDNN's backward ReLU gives
// exactly the rule's Where(Greater(y, 0), dy, 0), zeros (Relu'(0) = 0)
// included, and the lowering left no Where or Greater behind.
func TestReluGradsMatchTheStandardSubgraph(t *testing.T) {
	initOneDNN(t)
	const n = 3 * 5 * 7
	m, err := graphs.Build("relu", func(b *graphs.Builder) {
		x, dy := b.Input("x", onnx.Float, 3, 5, 7), b.Input("dy", onnx.Float, 3, 5, 7)
		y := graphs.Relu(x)
		b.Output("x_grad", graphs.Grad(graphs.ReduceSum(graphs.Mul(y, dy), nil, false), []*graphs.Value{x})[0])
	})
	if err != nil {
		t.Fatal(err)
	}
	low, k, err := lower.ReluGrads(m)
	if err != nil || k != 1 {
		t.Fatalf("replaced %d ReLU gradients (%v), want 1", k, err)
	}
	for _, nd := range low.Proto.GetGraph().GetNode() {
		if op := nd.GetOpType(); op == "Where" || op == "Greater" {
			t.Errorf("%s %s left in the lowered graph", op, nd.GetName())
		}
	}
	rng := rand.New(rand.NewPCG(21, 1))
	x, dy := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], dy[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		if i%5 == 0 {
			x[i] = 0
		}
	}
	in := []ortest.Tensor{ortest.F32(x, 3, 5, 7), ortest.F32(dy, 3, 5, 7)}
	want := ortest.RunWith(t, m, ort.Standard, in...)[0].F
	got := ortest.RunWith(t, m, ort.OneDNN, in...)[0].F
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("x_grad[%d] (x %g, dy %g): %g, want %g", i, x[i], dy[i], got[i], want[i])
		}
	}
}
