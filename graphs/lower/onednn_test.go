package lower_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
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

// model returns the graph of tc's convolution and its gradients: inputs x,
// w and dy (the output gradient), outputs y = conv(x; w) and w_grad and
// x_grad of Σ(y·dy), and the inputs' values.
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
		b.Output("y", y)
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

// lowerConvs returns m with its convolution gradients (ConvGrads) and then
// its forward convolutions (Convs) on oneDNN, and how many of each it replaced.
func lowerConvs(t *testing.T, m *graphs.Model) (low *graphs.Model, grads, convs int) {
	t.Helper()
	low, grads, err := lower.ConvGrads(m, allGrads)
	if err == nil {
		low, convs, err = lower.Convs(low)
	}
	if err != nil {
		t.Fatal(err)
	}
	return low, grads, convs
}

// TestConvGradsMatchTheStandardSubgraphs runs each case's convolution and its
// weight and input gradients as written (a Conv; k² strided Slices and
// Gemms; a Conv with flipped weights or a ConvTranspose) and on oneDNN's
// forward and backward convolutions: they agree, and the lowering replaced
// the convolution and both subgraphs (for a ConvTranspose, the weight
// gradient and the plain Conv of its input gradient), leaving no standard
// Conv, Gemm or Slice, and no ConvTranspose but a ConvTranspose case's own.
func TestConvGradsMatchTheStandardSubgraphs(t *testing.T) {
	initOneDNN(t)
	for _, tc := range wgradCases {
		t.Run(tc.name, func(t *testing.T) {
			m, in := tc.model(t)
			low, grads, convs := lowerConvs(t, m)
			if want := map[bool]int{false: 2, true: 1}[tc.transpose]; grads != want || convs != 1 {
				t.Fatalf("replaced %d gradients and %d convolutions, want %d and 1", grads, convs, want)
			}
			for _, nd := range low.Proto.GetGraph().GetNode() {
				op := nd.GetOpType()
				if nd.GetDomain() == "" && (op == "Gemm" || op == "Slice" || op == "Conv" || op == "ConvTranspose" && !tc.transpose) {
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

// TestConvGradsWrongAttributesFail: the comparison above catches any of the
// three kernels getting a wrong stride, padding, dilation or group count: each is
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
		low, _, _ := lowerConvs(t, m)
		for _, op := range []string{onednn.OpConv, onednn.OpConvWeightGrad, onednn.OpConvInputGrad} {
			computes := map[string]string{onednn.OpConv: "y", onednn.OpConvWeightGrad: "w_grad", onednn.OpConvInputGrad: "x_grad"}[op]
			if op == onednn.OpConv && tc.transpose {
				computes = "x_grad" // a ConvTranspose's input gradient is a Conv
			}
			out := slices.Index(m.OutputNames(), computes)
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

// normCase is one normalization: training-mode BatchNorm of x, or
// LayerNorm of x over the axes from axis on.
type normCase struct {
	shape []int64
	layer bool
	axis  int64
}

func (tc normCase) String() string {
	if tc.layer {
		return fmt.Sprintf("layer%v/axis%d", tc.shape, tc.axis)
	}
	return fmt.Sprintf("batch%v", tc.shape)
}

// model returns the normalization and its gradients: inputs x, scale, bias
// (a BatchNorm's [C], a LayerNorm's of the normalised axes' shape), a
// BatchNorm's running mean and variance, and dy; outputs y, a BatchNorm's
// updated running statistics, and x_grad, scale_grad and bias_grad of
// Σ(y·dy); and the inputs' values (x off-centre and scaled, so the
// statistics matter).
func (tc normCase) model(t *testing.T) (*graphs.Model, []ortest.Tensor) {
	t.Helper()
	ps := tc.shape[1:2]
	if tc.layer {
		ps = tc.shape[tc.axis:]
	}
	m, err := graphs.Build("norm", func(b *graphs.Builder) {
		x := b.Input("x", onnx.Float, tc.shape...)
		scale, bias := b.Input("scale", onnx.Float, ps...), b.Input("bias", onnx.Float, ps...)
		var y, mean, variance *graphs.Value
		if tc.layer {
			y = graphs.LayerNormalization(x, scale, bias, tc.axis, 1e-3)
		} else {
			rm, rv := b.Input("running_mean", onnx.Float, ps...), b.Input("running_var", onnx.Float, ps...)
			y, mean, variance = graphs.BatchNormalizationTraining(x, scale, bias, rm, rv, graphs.BatchNormOpts{Momentum: 0.8, Epsilon: 1e-3})
		}
		dy := b.Input("dy", onnx.Float, tc.shape...)
		grads := graphs.Grad(graphs.ReduceSum(graphs.Mul(y, dy), nil, false), []*graphs.Value{x, scale, bias})
		b.Output("y", y)
		if !tc.layer {
			b.Output("new_mean", mean)
			b.Output("new_var", variance)
		}
		for i, name := range []string{"x_grad", "scale_grad", "bias_grad"} {
			b.Output(name, grads[i])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, uint64(product(tc.shape))))
	normal := func(shape []int64, mean, sd float64) ortest.Tensor {
		v := make([]float32, product(shape))
		for i := range v {
			v[i] = float32(mean + sd*rng.NormFloat64())
		}
		return ortest.F32(v, shape...)
	}
	in := []ortest.Tensor{normal(tc.shape, 0.7, 2), normal(ps, 1, 0.3), normal(ps, 0, 0.3)}
	if !tc.layer {
		in = append(in, normal(ps, 0, 1), normal(ps, 2, 0.1))
	}
	return m, append(in, normal(tc.shape, 0, 1))
}

// normMutation changes attribute attr of the kernels of type op, which
// output must then show.
type normMutation struct {
	op, attr, output string
	change           func(a *onnxpb.AttributeProto)
}

// TestNormsMatchTheStandardSubgraph runs training-mode BatchNorm and
// LayerNorm and their gradients as written (ONNX Runtime's ops; the rules'
// reductions and elementwise ops) and on oneDNN's batch and layer
// normalization, for images, sequences, plain features and LayerNorms over
// one and two trailing axes: outputs, running statistics and gradients
// agree, and the lowering left no reduction behind. The same comparison
// fails when either kernel gets a wrong epsilon, the forward BatchNorm a
// wrong momentum or a LayerNorm kernel a wrong axis.
func TestNormsMatchTheStandardSubgraph(t *testing.T) {
	initOneDNN(t)
	for _, tc := range []normCase{
		{shape: []int64{4, 3, 5, 6}}, {shape: []int64{3, 4, 7}}, {shape: []int64{6, 5}},
		{shape: []int64{4, 9, 16}, layer: true, axis: 2}, {shape: []int64{6, 5}, layer: true, axis: 1},
		{shape: []int64{2, 3, 4, 5}, layer: true, axis: 2},
	} {
		t.Run(tc.String(), func(t *testing.T) {
			m, in := tc.model(t)
			low, k, err := lower.Norms(m)
			if err != nil || k != 2 {
				t.Fatalf("put in %d kernels (%v), want 2", k, err)
			}
			for _, nd := range low.Proto.GetGraph().GetNode() {
				if op := nd.GetOpType(); nd.GetDomain() == "" && (strings.HasPrefix(op, "Reduce") || strings.HasSuffix(op, "Normalization")) {
					t.Errorf("%s %s left in the lowered graph", op, nd.GetName())
				}
			}
			want := ortest.RunWith(t, m, ort.Standard, in...)
			got := ortest.RunWith(t, low, ort.OneDNN, in...)
			for i, o := range m.Outputs {
				if err := closeTo(got[i].F, want[i].F); err != nil {
					t.Errorf("%s%s", o.Name, err)
				}
			}
			fwd, grad := onednn.OpBatchNormTraining, onednn.OpBatchNormTrainingGrad
			if tc.layer {
				fwd, grad = onednn.OpLayerNormTraining, onednn.OpLayerNormTrainingGrad
			}
			triple := func(a *onnxpb.AttributeProto) { a.F = ptr(a.GetF() * 3) }
			mutations := []normMutation{{fwd, "epsilon", "y", triple}, {grad, "epsilon", "x_grad", triple}}
			if tc.layer {
				wrongAxis := func(a *onnxpb.AttributeProto) { a.I = ptr(a.GetI() - 1) }
				mutations = append(mutations, normMutation{fwd, "axis", "y", wrongAxis}, normMutation{grad, "axis", "x_grad", wrongAxis})
			} else {
				mutations = append(mutations, normMutation{fwd, "momentum", "new_var", func(a *onnxpb.AttributeProto) { a.F = ptr(a.GetF() / 2) }})
			}
			for _, mu := range mutations {
				p := proto.Clone(low.Proto).(*onnxpb.ModelProto)
				for _, nd := range p.GetGraph().GetNode() {
					for _, a := range nd.GetAttribute() {
						if nd.GetOpType() == mu.op && a.GetName() == mu.attr {
							mu.change(a)
						}
					}
				}
				out := slices.Index(m.OutputNames(), mu.output)
				got, err := ortest.RunErr(low.WithProto(p), ort.OneDNN, in...)
				if err == nil && closeTo(got[out].F, want[out].F) == nil {
					t.Errorf("%s with a wrong %s gives the right %s", mu.op, mu.attr, mu.output)
				}
			}
		})
	}
}

// TestFoldScalesGivesTheSameInputGradient: in an attack's input-gradient
// graph of a ResNet with its parameters stored (BatchNorm in inference
// mode after each convolution), FoldScales moves each BatchNorm's
// per-channel scale of the output gradient onto the constant weights of the
// input gradient that reads it, and the gradient stays the standard one.
func TestFoldScalesGivesTheSameInputGradient(t *testing.T) {
	initOneDNN(t)
	g, in := attackGraph(t)
	low, _, err := lower.ConvGrads(g.Model, allGrads)
	if err != nil {
		t.Fatal(err)
	}
	// Every convolution's input gradient (20, the stem's too) reads a BatchNorm's scale.
	if _, k, err := lower.FoldScales(low); err != nil || k != 20 {
		t.Fatalf("moved %d scales (%v), want 20", k, err)
	}
	want := ortest.RunWith(t, g.Model, ort.Standard, in...)
	got := ortest.RunWith(t, g.Model, ort.OneDNN, in...)
	for i, o := range g.Outputs {
		if err := closeTo(got[i].F, want[i].F); err != nil {
			t.Errorf("%s%s", o.Name, err)
		}
	}
}
