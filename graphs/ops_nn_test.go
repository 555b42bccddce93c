package graphs_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/reference"
	"github.com/taet-ml/taet/onnx"
)

// sumTol is the tolerance for outputs that are sums of many float32
// products (MatMul, Gemm, Conv): ONNX Runtime sums in float32 and in its own
// order, the reference in float64.
const sumTol = 1e-4

func TestMatMul(t *testing.T) {
	var cases []opCase
	for _, tc := range []struct {
		name string
		x, y []int64
	}{
		{"2d", []int64{3, 4}, []int64{4, 5}},
		{"2d/longK", []int64{3, 64}, []int64{64, 5}},
		{"batchLeft", []int64{2, 3, 4}, []int64{4, 5}},
		{"batchRight", []int64{4, 5}, []int64{2, 5, 3}},
		{"batchBoth", []int64{2, 3, 4}, []int64{2, 4, 2}},
		{"batchBroadcast", []int64{2, 1, 3, 4}, []int64{3, 4, 5}},
		{"vector/matrix", []int64{4}, []int64{4, 5}},
		{"matrix/vector", []int64{3, 4}, []int64{4}},
		{"vector/batch", []int64{4}, []int64{2, 4, 3}},
		{"vector/vector", []int64{6}, []int64{6}},
	} {
		cases = append(cases, opCase{
			name:  tc.name,
			args:  []arg{f32("x", tc.x...), f32("y", tc.y...)},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.MatMul(in[0], in[1])) },
			ref:   func(in []*reference.Tensor) []*reference.Tensor { return ref1(reference.MatMul(in[0], in[1])) },
			tol:   sumTol,
		})
	}
	runCases(t, cases)
}

func TestGemm(t *testing.T) {
	var cases []opCase
	for _, tc := range []struct {
		name string
		a, b []int64
		c    []int64 // nil: no C
		o    graphs.GemmOpts
	}{
		{"plain", []int64{3, 4}, []int64{4, 5}, nil, graphs.GemmOpts{}},
		{"transA", []int64{4, 3}, []int64{4, 5}, nil, graphs.GemmOpts{TransA: true}},
		{"linear", []int64{3, 4}, []int64{5, 4}, []int64{5}, graphs.GemmOpts{TransB: true}}, // x·Wᵀ + b
		{"both/alphaBeta", []int64{4, 3}, []int64{5, 4}, []int64{3, 1}, graphs.GemmOpts{Alpha: 0.5, Beta: 2, TransA: true, TransB: true}},
		{"fullC", []int64{3, 4}, []int64{4, 5}, []int64{3, 5}, graphs.GemmOpts{Beta: -1}},
		{"scalarC", []int64{3, 4}, []int64{4, 5}, []int64{}, graphs.GemmOpts{Alpha: -2}},
		{"rowC", []int64{3, 4}, []int64{4, 5}, []int64{1, 5}, graphs.GemmOpts{}},
	} {
		args := []arg{f32("a", tc.a...), f32("b", tc.b...)}
		if tc.c != nil {
			args = append(args, f32("c", tc.c...))
		}
		alpha, beta := float64(tc.o.Alpha), float64(tc.o.Beta)
		if alpha == 0 {
			alpha = 1
		}
		if beta == 0 {
			beta = 1
		}
		cases = append(cases, opCase{
			name: tc.name,
			args: args,
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				var c *graphs.Value
				if len(in) == 3 {
					c = in[2]
				}
				return one(graphs.Gemm(in[0], in[1], c, tc.o))
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				var c *reference.Tensor
				if len(in) == 3 {
					c = in[2]
				}
				return ref1(reference.Gemm(in[0], in[1], c, alpha, beta, tc.o.TransA, tc.o.TransB))
			},
			tol: sumTol,
		})
	}
	runCases(t, cases)
}

// convParams converts graphs.ConvOpts to the reference's parameters.
func convParams(o graphs.ConvOpts) reference.ConvParams {
	p := reference.ConvParams{Group: int(o.Group)}
	if o.Strides != nil {
		p.Strides = toInts(o.Strides)
	}
	if o.Pads != nil {
		p.Pads = toInts(o.Pads)
	}
	if o.Dilations != nil {
		p.Dilations = toInts(o.Dilations)
	}
	if o.OutputPadding != nil {
		p.OutputPadding = toInts(o.OutputPadding)
	}
	return p
}

// convCase is an opCase for Conv or ConvTranspose with input x, weights w
// and, with bias, a bias of m channels.
func convCase(name string, x, w []int64, bias int64, o graphs.ConvOpts, transpose bool) opCase {
	args := []arg{f32("x", x...), f32("w", w...)}
	if bias > 0 {
		args = append(args, f32("bias", bias))
	}
	f, ref := graphs.Conv, reference.Conv
	if transpose {
		f, ref = graphs.ConvTranspose, reference.ConvTranspose
	}
	return opCase{
		name: name,
		args: args,
		build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
			var bias *graphs.Value
			if len(in) == 3 {
				bias = in[2]
			}
			return one(f(in[0], in[1], bias, o))
		},
		ref: func(in []*reference.Tensor) []*reference.Tensor {
			var bias *reference.Tensor
			if len(in) == 3 {
				bias = in[2]
			}
			return ref1(ref(in[0], in[1], bias, convParams(o)))
		},
		tol: sumTol,
	}
}

func TestConv(t *testing.T) {
	pad1 := []int64{1, 1, 1, 1}
	s2 := []int64{2, 2}
	var cases []opCase
	for _, tc := range []struct {
		name string
		x, w []int64
		o    graphs.ConvOpts
	}{
		{"3x3/stride1/pad1", []int64{2, 4, 8, 8}, []int64{6, 4, 3, 3}, graphs.ConvOpts{Pads: pad1}},
		{"3x3/stride2/pad1", []int64{2, 4, 9, 9}, []int64{6, 4, 3, 3}, graphs.ConvOpts{Strides: s2, Pads: pad1}},
		{"3x3/stride2/pad1/even", []int64{1, 3, 8, 8}, []int64{4, 3, 3, 3}, graphs.ConvOpts{Strides: s2, Pads: pad1}},
		{"1x1/stride1", []int64{2, 8, 5, 5}, []int64{4, 8, 1, 1}, graphs.ConvOpts{}},
		{"1x1/stride2", []int64{2, 4, 8, 8}, []int64{8, 4, 1, 1}, graphs.ConvOpts{Strides: s2}},
		{"7x7/stride2/pad3", []int64{1, 3, 16, 16}, []int64{4, 3, 7, 7}, graphs.ConvOpts{Strides: s2, Pads: []int64{3, 3, 3, 3}}},
		{"16x16/stride16/patchify", []int64{1, 3, 32, 32}, []int64{8, 3, 16, 16}, graphs.ConvOpts{Strides: []int64{16, 16}}},
		{"groups2", []int64{2, 4, 6, 6}, []int64{6, 2, 3, 3}, graphs.ConvOpts{Pads: pad1, Group: 2}},
		{"depthwise", []int64{2, 4, 6, 6}, []int64{4, 1, 3, 3}, graphs.ConvOpts{Pads: pad1, Group: 4}},
		{"depthwise/stride2", []int64{1, 6, 7, 7}, []int64{6, 1, 3, 3}, graphs.ConvOpts{Strides: s2, Pads: pad1, Group: 6}},
		{"depthwise/multiplier2", []int64{1, 3, 5, 5}, []int64{6, 1, 3, 3}, graphs.ConvOpts{Group: 3}},
		{"dilation2", []int64{2, 3, 9, 9}, []int64{4, 3, 3, 3}, graphs.ConvOpts{Dilations: []int64{2, 2}}},
		{"dilation2/pad2", []int64{1, 3, 7, 7}, []int64{4, 3, 3, 3}, graphs.ConvOpts{Dilations: []int64{2, 2}, Pads: []int64{2, 2, 2, 2}}},
		{"asymmetric", []int64{1, 2, 7, 6}, []int64{3, 2, 3, 2}, graphs.ConvOpts{Strides: []int64{1, 2}, Pads: []int64{0, 1, 2, 0}, Dilations: []int64{2, 1}}},
	} {
		m := tc.w[0]
		cases = append(cases,
			convCase(tc.name+"/bias", tc.x, tc.w, m, tc.o, false),
			convCase(tc.name+"/noBias", tc.x, tc.w, 0, tc.o, false))
	}
	runCases(t, cases)
}

func TestConvTranspose(t *testing.T) {
	pad1 := []int64{1, 1, 1, 1}
	s2 := []int64{2, 2}
	var cases []opCase
	for _, tc := range []struct {
		name string
		x, w []int64 // w is [C, M/group, kH, kW]
		o    graphs.ConvOpts
	}{
		{"3x3/stride1/pad1", []int64{2, 4, 5, 5}, []int64{4, 3, 3, 3}, graphs.ConvOpts{Pads: pad1}},
		{"3x3/stride1", []int64{1, 2, 4, 4}, []int64{2, 3, 3, 3}, graphs.ConvOpts{}},
		{"2x2/stride2", []int64{2, 4, 4, 4}, []int64{4, 2, 2, 2}, graphs.ConvOpts{Strides: s2}},
		{"4x4/stride2/pad1", []int64{1, 4, 4, 4}, []int64{4, 3, 4, 4}, graphs.ConvOpts{Strides: s2, Pads: pad1}},
		{"3x3/stride2/pad1/outputPadding1", []int64{2, 3, 4, 4}, []int64{3, 2, 3, 3}, graphs.ConvOpts{Strides: s2, Pads: pad1, OutputPadding: []int64{1, 1}}},
		{"3x3/stride2/outputPadding/rows", []int64{1, 2, 3, 4}, []int64{2, 2, 3, 3}, graphs.ConvOpts{Strides: s2, OutputPadding: []int64{1, 0}}},
		{"groups2", []int64{2, 4, 4, 4}, []int64{4, 3, 3, 3}, graphs.ConvOpts{Pads: pad1, Group: 2}},
		{"groups2/stride2", []int64{1, 4, 3, 3}, []int64{4, 1, 2, 2}, graphs.ConvOpts{Strides: s2, Group: 2}},
		{"depthwise", []int64{1, 3, 4, 4}, []int64{3, 1, 3, 3}, graphs.ConvOpts{Group: 3}},
		{"dilation2", []int64{1, 2, 4, 4}, []int64{2, 3, 3, 3}, graphs.ConvOpts{Dilations: []int64{2, 2}, Pads: pad1}},
	} {
		m := tc.w[1] * max(tc.o.Group, 1)
		cases = append(cases,
			convCase(tc.name+"/bias", tc.x, tc.w, m, tc.o, true),
			convCase(tc.name+"/noBias", tc.x, tc.w, 0, tc.o, true))
	}
	runCases(t, cases)
}

// poolParams converts graphs.PoolOpts to the reference's parameters.
func poolParams(o graphs.PoolOpts) reference.PoolParams {
	p := reference.PoolParams{Kernel: toInts(o.Kernel), CountIncludePad: o.CountIncludePad}
	if o.Strides != nil {
		p.Strides = toInts(o.Strides)
	}
	if o.Pads != nil {
		p.Pads = toInts(o.Pads)
	}
	return p
}

func TestPools(t *testing.T) {
	stem := graphs.PoolOpts{Kernel: []int64{3, 3}, Strides: []int64{2, 2}, Pads: []int64{1, 1, 1, 1}} // ResNet
	var cases []opCase
	for _, tc := range []struct {
		name string
		x    []int64
		o    graphs.PoolOpts
		gen  func(r *rand.Rand) float64
	}{
		{"3x3/stride2/pad1", []int64{2, 3, 9, 9}, stem, nil},
		{"3x3/stride2/pad1/even", []int64{1, 2, 8, 8}, stem, nil},
		// All inputs negative: a padded zero must never be the maximum.
		{"3x3/stride2/pad1/negative", []int64{1, 2, 7, 7}, stem, uniform(-10, -1)},
		{"2x2/stride2", []int64{2, 3, 8, 8}, graphs.PoolOpts{Kernel: []int64{2, 2}, Strides: []int64{2, 2}}, nil},
		{"2x2/stride2/odd", []int64{1, 2, 7, 5}, graphs.PoolOpts{Kernel: []int64{2, 2}, Strides: []int64{2, 2}}, nil},
		{"3x3/stride1/pad1", []int64{1, 3, 5, 5}, graphs.PoolOpts{Kernel: []int64{3, 3}, Pads: []int64{1, 1, 1, 1}}, nil},
		{"asymmetric", []int64{1, 2, 6, 7}, graphs.PoolOpts{Kernel: []int64{2, 3}, Strides: []int64{1, 2}, Pads: []int64{1, 0, 0, 1}}, nil},
	} {
		x := f32("x", tc.x...).with(tc.gen)
		cases = append(cases, opCase{
			name:  "MaxPool/" + tc.name,
			args:  []arg{x},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.MaxPool(in[0], tc.o)) },
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				y, _ := reference.MaxPool(in[0], poolParams(tc.o))
				return ref1(y)
			},
		}, opCase{
			name: "MaxPoolWithIndices/" + tc.name,
			args: []arg{x},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				y, i := graphs.MaxPoolWithIndices(in[0], tc.o)
				return []*graphs.Value{y, i}
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				y, i := reference.MaxPool(in[0], poolParams(tc.o))
				return []*reference.Tensor{y, i}
			},
		})
		for _, include := range []bool{false, true} {
			o := tc.o
			o.CountIncludePad = include
			cases = append(cases, opCase{
				name:  fmt.Sprintf("AveragePool/%s/countIncludePad=%v", tc.name, include),
				args:  []arg{x},
				build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.AveragePool(in[0], o)) },
				ref: func(in []*reference.Tensor) []*reference.Tensor {
					return ref1(reference.AveragePool(in[0], poolParams(o)))
				},
			})
		}
	}
	for _, shape := range [][]int64{{2, 3, 5, 4}, {2, 8, 1, 1}, {2, 3, 7}} {
		cases = append(cases, unaryCase(fmt.Sprintf("GlobalAveragePool/%v", shape), shape, graphs.GlobalAveragePool, reference.GlobalAveragePool))
	}
	runCases(t, cases)
}

func TestBatchNormalization(t *testing.T) {
	positive := uniform(0.5, 2)
	var cases []opCase
	for _, tc := range []struct {
		name string
		x    []int64
		o    graphs.BatchNormOpts
	}{
		{"4d", []int64{2, 3, 4, 5}, graphs.BatchNormOpts{}},
		{"4d/eps1e-3/momentum0.5", []int64{4, 2, 3, 3}, graphs.BatchNormOpts{Epsilon: 1e-3, Momentum: 0.5}},
		{"2d", []int64{6, 3}, graphs.BatchNormOpts{}},
		{"3d", []int64{3, 4, 5}, graphs.BatchNormOpts{Momentum: 0.99}},
		{"4d/unbiased", []int64{2, 3, 4, 5}, graphs.BatchNormOpts{UnbiasedRunningVar: true}},
		{"2d/unbiased/momentum0.5", []int64{6, 3}, graphs.BatchNormOpts{Momentum: 0.5, UnbiasedRunningVar: true}},
		{"4d/unbiased/n2", []int64{2, 4, 1, 1}, graphs.BatchNormOpts{UnbiasedRunningVar: true}},
	} {
		c := tc.x[1]
		eps, mom := float64(tc.o.Epsilon), float64(tc.o.Momentum)
		if eps == 0 {
			eps = 1e-5
		}
		if mom == 0 {
			mom = 0.9
		}
		args := []arg{f32("x", tc.x...).with(normal(3)), f32("scale", c), f32("bias", c), f32("mean", c), f32("var", c).with(positive)}
		cases = append(cases, opCase{
			name: "inference/" + tc.name,
			args: args,
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				return one(graphs.BatchNormalization(in[0], in[1], in[2], in[3], in[4], tc.o))
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				return ref1(reference.BatchNorm(in[0], in[1], in[2], in[3], in[4], eps))
			},
		}, opCase{
			// y uses the batch mean and the biased batch variance; the
			// running variance is updated with the biased batch variance
			// too (ONNX spec and ONNX Runtime), or with the unbiased one,
			// ×n/(n−1), as PyTorch does (UnbiasedRunningVar). The two
			// differ here by more than the 1e-5 tolerance, so each case
			// tells them apart.
			name: "training/" + tc.name,
			args: args,
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				y, m, v := graphs.BatchNormalizationTraining(in[0], in[1], in[2], in[3], in[4], tc.o)
				return []*graphs.Value{y, m, v}
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				mean, variance := reference.ChannelMoments(in[0])
				ema := func(running, batch float64) float64 { return mom*running + (1-mom)*batch }
				runVar := variance
				if tc.o.UnbiasedRunningVar {
					n := float64(reference.Numel(in[0].Shape) / in[0].Shape[1])
					runVar = reference.Map(variance, func(v float64) float64 { return v * n / (n - 1) })
				}
				return []*reference.Tensor{
					reference.BatchNorm(in[0], in[1], in[2], mean, variance, eps),
					reference.Map2(in[3], mean, ema),
					reference.Map2(in[4], runVar, ema),
				}
			},
		})
	}
	runCases(t, cases)
}

func TestLayerNormalization(t *testing.T) {
	var cases []opCase
	for _, tc := range []struct {
		name string
		x    []int64
		axis int64
		eps  float32
		bias bool
	}{
		{"lastAxis/bias", []int64{2, 3, 8}, -1, 0, true},
		{"lastAxis/noBias", []int64{2, 3, 8}, 2, 0, false},
		{"lastTwo", []int64{2, 3, 4}, 1, 1e-3, true},
		{"vit", []int64{2, 5, 16}, -1, 1e-6, true},
		{"all", []int64{3, 4}, 0, 0, true},
	} {
		norm := tc.x[(int(tc.axis)+len(tc.x))%len(tc.x):]
		args := []arg{f32("x", tc.x...).with(normal(2)), f32("scale", norm...)}
		if tc.bias {
			args = append(args, f32("bias", norm...))
		}
		eps := float64(tc.eps)
		if eps == 0 {
			eps = 1e-5
		}
		cases = append(cases, opCase{
			name: tc.name,
			args: args,
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				var bias *graphs.Value
				if tc.bias {
					bias = in[2]
				}
				return one(graphs.LayerNormalization(in[0], in[1], bias, tc.axis, tc.eps))
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				var bias *reference.Tensor
				if tc.bias {
					bias = in[2]
				}
				return ref1(reference.LayerNorm(in[0], in[1], bias, int(tc.axis), eps))
			},
		})
	}
	runCases(t, cases)
}

func TestSoftmax(t *testing.T) {
	var cases []opCase
	for _, tc := range []struct {
		name  string
		x     []int64
		axis  int64
		sigma float64
	}{
		{"axis-1", []int64{2, 3, 4}, -1, 1},
		{"axis0", []int64{2, 3, 4}, 0, 1},
		{"axis1", []int64{2, 3, 4}, 1, 1},
		{"logits/large", []int64{4, 10}, 1, 30}, // needs the max-subtraction to stay finite
		{"attention", []int64{2, 2, 5, 5}, -1, 3},
	} {
		cases = append(cases,
			unaryCase("Softmax/"+tc.name, tc.x,
				func(x *graphs.Value) *graphs.Value { return graphs.Softmax(x, tc.axis) },
				func(x *reference.Tensor) *reference.Tensor { return reference.Softmax(x, int(tc.axis)) }),
			unaryCase("LogSoftmax/"+tc.name, tc.x,
				func(x *graphs.Value) *graphs.Value { return graphs.LogSoftmax(x, tc.axis) },
				func(x *reference.Tensor) *reference.Tensor { return reference.LogSoftmax(x, int(tc.axis)) }),
		)
		cases[len(cases)-2].args[0] = cases[len(cases)-2].args[0].with(normal(tc.sigma))
		cases[len(cases)-1].args[0] = cases[len(cases)-1].args[0].with(normal(tc.sigma))
	}
	runCases(t, cases)
}

// TestCol2Im runs Col2Im, whose graphs get opset 18. They skip the ONNX
// checker: Debian's python3-onnx (1.12) knows opsets up to 17 only.
func TestCol2Im(t *testing.T) {
	var cases []opCase
	for _, tc := range []struct {
		name         string
		n, c         int64
		image, block []int64
		o            graphs.ConvOpts
	}{
		{"2x2/stride1", 1, 1, []int64{4, 4}, []int64{2, 2}, graphs.ConvOpts{}},
		{"3x3/stride2/pad1", 2, 2, []int64{5, 5}, []int64{3, 3}, graphs.ConvOpts{Strides: []int64{2, 2}, Pads: []int64{1, 1, 1, 1}}},
		{"3x3/dilation2", 1, 2, []int64{6, 5}, []int64{3, 3}, graphs.ConvOpts{Dilations: []int64{2, 2}}},
		{"asymmetric", 1, 3, []int64{5, 6}, []int64{2, 3}, graphs.ConvOpts{Strides: []int64{1, 2}, Pads: []int64{0, 1, 1, 0}}},
		{"1x5/onnxDoc", 1, 1, []int64{5, 5}, []int64{1, 5}, graphs.ConvOpts{}},
	} {
		ref := convParams(tc.o)
		l := numBlocks(tc.image, tc.block, ref)
		cases = append(cases, opCase{
			name:    tc.name,
			args:    []arg{f32("x", tc.n, tc.c*tc.block[0]*tc.block[1], l)},
			opset18: true,
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				return one(graphs.Col2Im(in[0], tc.image, tc.block, tc.o))
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				return ref1(reference.Col2Im(in[0], toInts(tc.image), toInts(tc.block), ref))
			},
		})
	}
	runCases(t, cases)
}

// numBlocks returns how many block positions (L) a Col2Im input has.
func numBlocks(image, block []int64, p reference.ConvParams) int64 {
	s, d, pad := []int{1, 1}, []int{1, 1}, []int{0, 0, 0, 0}
	if p.Strides != nil {
		s = p.Strides
	}
	if p.Dilations != nil {
		d = p.Dilations
	}
	if p.Pads != nil {
		pad = p.Pads
	}
	l := int64(1)
	for i := range 2 {
		l *= (image[i]+int64(pad[i]+pad[i+2])-int64(d[i])*(block[i]-1)-1)/int64(s[i]) + 1
	}
	return l
}

func TestNNBuildErrors(t *testing.T) {
	img := func(b *graphs.Builder) *graphs.Value { return b.Input("x", onnx.Float, 2, 4, 8, 8) }
	w := func(b *graphs.Builder, shape ...int64) *graphs.Value { return b.Input("w", onnx.Float, shape...) }
	vec := func(b *graphs.Builder, name string, n int64) *graphs.Value { return b.Input(name, onnx.Float, n) }
	runBuildErrors(t, []buildErrorCase{
		{"Conv/channels", "Conv", func(b *graphs.Builder) { graphs.Conv(img(b), w(b, 6, 3, 3, 3), nil, graphs.ConvOpts{}) }},
		{"Conv/groups", "Conv", func(b *graphs.Builder) {
			graphs.Conv(img(b), w(b, 6, 2, 3, 3), nil, graphs.ConvOpts{Group: 3})
		}},
		{"Conv/bias", "Conv", func(b *graphs.Builder) {
			graphs.Conv(img(b), w(b, 6, 4, 3, 3), vec(b, "bias", 4), graphs.ConvOpts{})
		}},
		{"Conv/emptyOutput", "Conv", func(b *graphs.Builder) { graphs.Conv(img(b), w(b, 6, 4, 9, 9), nil, graphs.ConvOpts{}) }},
		{"Conv/pads", "Conv", func(b *graphs.Builder) {
			graphs.Conv(img(b), w(b, 6, 4, 3, 3), nil, graphs.ConvOpts{Pads: []int64{1, 1}})
		}},
		{"Conv/rank", "Conv", func(b *graphs.Builder) {
			graphs.Conv(b.Input("x", onnx.Float, 4, 8, 8), w(b, 6, 4, 3, 3), nil, graphs.ConvOpts{})
		}},
		{"ConvTranspose/channels", "ConvTranspose", func(b *graphs.Builder) {
			graphs.ConvTranspose(img(b), w(b, 3, 4, 3, 3), nil, graphs.ConvOpts{})
		}},
		{"MatMul/inner", "MatMul", func(b *graphs.Builder) {
			graphs.MatMul(b.Input("x", onnx.Float, 3, 4), b.Input("y", onnx.Float, 5, 6))
		}},
		{"MatMul/batch", "MatMul", func(b *graphs.Builder) {
			graphs.MatMul(b.Input("x", onnx.Float, 2, 3, 4), b.Input("y", onnx.Float, 3, 4, 5))
		}},
		{"Gemm/inner", "Gemm", func(b *graphs.Builder) {
			graphs.Gemm(b.Input("a", onnx.Float, 3, 4), b.Input("b", onnx.Float, 5, 4), nil, graphs.GemmOpts{})
		}},
		{"Gemm/C", "Gemm", func(b *graphs.Builder) {
			graphs.Gemm(b.Input("a", onnx.Float, 3, 4), b.Input("b", onnx.Float, 4, 5), vec(b, "c", 3), graphs.GemmOpts{})
		}},
		{"MaxPool/kernel", "MaxPool", func(b *graphs.Builder) { graphs.MaxPool(img(b), graphs.PoolOpts{Kernel: []int64{3}}) }},
		{"AveragePool/emptyOutput", "AveragePool", func(b *graphs.Builder) {
			graphs.AveragePool(img(b), graphs.PoolOpts{Kernel: []int64{9, 9}})
		}},
		{"BatchNormalization/params", "BatchNormalization", func(b *graphs.Builder) {
			p := vec(b, "p", 3)
			graphs.BatchNormalization(img(b), p, p, p, p, graphs.BatchNormOpts{})
		}},
		{"LayerNormalization/scale", "LayerNormalization", func(b *graphs.Builder) {
			graphs.LayerNormalization(img(b), vec(b, "s", 4), nil, -1, 0)
		}},
		{"Softmax/axis", "Softmax", func(b *graphs.Builder) { graphs.Softmax(img(b), 4) }},
		{"Col2Im/blocks", "Col2Im", func(b *graphs.Builder) {
			graphs.Col2Im(b.Input("x", onnx.Float, 1, 4, 10), []int64{4, 4}, []int64{2, 2}, graphs.ConvOpts{})
		}},
	})
}
