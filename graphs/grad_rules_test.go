package graphs_test

import (
	"math"
	"strings"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/gradtest"
)

type in = gradtest.Input

// positive maps a draw to |x|+0.5: away from 0 for Log, Sqrt, Div, Pow.
func positive(x float64) float64 { return math.Abs(x) + 0.5 }

// awayFromZero keeps |x| ≥ 0.1 so finite differences never straddle a kink at 0.
func awayFromZero(x float64) float64 {
	if x >= 0 {
		return x + 0.1
	}
	return x - 0.1
}

func TestGradElementwise(t *testing.T) {
	un := func(f func(*graphs.Value) *graphs.Value) func([]*graphs.Value) *graphs.Value {
		return func(v []*graphs.Value) *graphs.Value { return f(v[0]) }
	}
	bin := func(f func(a, b *graphs.Value) *graphs.Value) func([]*graphs.Value) *graphs.Value {
		return func(v []*graphs.Value) *graphs.Value { return f(v[0], v[1]) }
	}
	for _, tc := range []struct {
		name   string
		inputs []in
		build  func([]*graphs.Value) *graphs.Value
	}{
		{"Add/same", []in{{Name: "a", Shape: []int64{2, 3}}, {Name: "b", Shape: []int64{2, 3}}}, bin(graphs.Add)},
		{"Add/broadcast", []in{{Name: "a", Shape: []int64{2, 3, 4}}, {Name: "b", Shape: []int64{3, 1}}}, bin(graphs.Add)},
		{"Sub/broadcast-lead", []in{{Name: "a", Shape: []int64{4}}, {Name: "b", Shape: []int64{2, 1, 4}}}, bin(graphs.Sub)},
		{"Mul/broadcast", []in{{Name: "a", Shape: []int64{2, 1, 4}}, {Name: "b", Shape: []int64{3, 1}}}, bin(graphs.Mul)},
		{"Div/broadcast", []in{{Name: "a", Shape: []int64{2, 3}}, {Name: "b", Shape: []int64{3}, Transform: positive}}, bin(graphs.Div)},
		{"Pow", []in{{Name: "a", Shape: []int64{2, 3}, Transform: positive}, {Name: "b", Shape: []int64{1, 3}}}, bin(graphs.Pow)},
		// Max and Min: values 0.005 apart at least, so no step crosses a tie.
		{"Max", []in{{Name: "a", Shape: []int64{2, 3}, Values: distinct(6)}, {Name: "b", Shape: []int64{3}, Values: []float32{0.025, 0.005, 0.045}}}, bin(graphs.Max)},
		{"Min", []in{{Name: "a", Shape: []int64{2, 3}, Values: distinct(6)}, {Name: "b", Shape: []int64{2, 1}, Values: []float32{0.015, 0.035}}}, bin(graphs.Min)},
		{"Neg", []in{{Name: "x", Shape: []int64{5}}}, un(graphs.Neg)},
		{"Abs", []in{{Name: "x", Shape: []int64{6}, Transform: awayFromZero}}, un(graphs.Abs)},
		{"Exp", []in{{Name: "x", Shape: []int64{5}}}, un(graphs.Exp)},
		{"Log", []in{{Name: "x", Shape: []int64{5}, Transform: positive}}, un(graphs.Log)},
		{"Sqrt", []in{{Name: "x", Shape: []int64{5}, Transform: positive}}, un(graphs.Sqrt)},
		{"Reciprocal", []in{{Name: "x", Shape: []int64{5}, Transform: positive}}, un(graphs.Reciprocal)},
		{"Relu", []in{{Name: "x", Shape: []int64{8}, Transform: awayFromZero}}, un(graphs.Relu)},
		{"Sigmoid", []in{{Name: "x", Shape: []int64{5}}}, un(graphs.Sigmoid)},
		{"Tanh", []in{{Name: "x", Shape: []int64{5}}}, un(graphs.Tanh)},
		{"Erf", []in{{Name: "x", Shape: []int64{5}}}, un(graphs.Erf)},
		{"Identity", []in{{Name: "x", Shape: []int64{5}}}, un(graphs.Identity)},
		{"Clip", []in{{Name: "x", Shape: []int64{8}, Values: []float32{-2, -0.7, -0.2, 0.1, 0.4, 0.8, 1.5, 3}}},
			un(func(x *graphs.Value) *graphs.Value { return graphs.Clip(x, -0.5, 1) })},
		{"Where", []in{{Name: "a", Shape: []int64{2, 3}}, {Name: "b", Shape: []int64{3}}},
			bin(func(a, b *graphs.Value) *graphs.Value { return graphs.Where(graphs.Greater(a, b), graphs.Mul(a, a), b) })},
		{"Cast/float", []in{{Name: "x", Shape: []int64{4}}}, un(func(x *graphs.Value) *graphs.Value {
			return graphs.Mul(graphs.Cast(x, x.DType()), x)
		})},
		{"Sign/no-grad", []in{{Name: "x", Shape: []int64{4}, Transform: awayFromZero}}, un(func(x *graphs.Value) *graphs.Value {
			return graphs.Mul(graphs.Sign(x), x) // = |x|: gradient sign(x) through Mul only
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gradtest.Check(t, gradtest.Spec{Inputs: tc.inputs, Build: tc.build})
		})
	}
}

func TestGradReduce(t *testing.T) {
	x := []in{{Name: "x", Shape: []int64{2, 3, 4}}}
	for _, tc := range []struct {
		name  string
		build func(*graphs.Value) *graphs.Value
	}{
		{"ReduceSum/all", func(x *graphs.Value) *graphs.Value { return graphs.ReduceSum(x, nil, false) }},
		{"ReduceSum/axis1-keep", func(x *graphs.Value) *graphs.Value { return graphs.ReduceSum(x, []int64{1}, true) }},
		{"ReduceSum/axes0,2", func(x *graphs.Value) *graphs.Value { return graphs.ReduceSum(x, []int64{0, -1}, false) }},
		{"ReduceMean/axis2", func(x *graphs.Value) *graphs.Value { return graphs.ReduceMean(x, []int64{2}, false) }},
		{"ReduceMean/all-keep", func(x *graphs.Value) *graphs.Value { return graphs.ReduceMean(x, nil, true) }},
		{"ReduceMax/axis1", func(x *graphs.Value) *graphs.Value { return graphs.ReduceMax(x, []int64{1}, false) }},
		{"ReduceMax/axes1,2-keep", func(x *graphs.Value) *graphs.Value { return graphs.ReduceMax(x, []int64{1, 2}, true) }},
		{"Softmax/last", func(x *graphs.Value) *graphs.Value { return graphs.Softmax(x, -1) }},
		{"Softmax/axis1", func(x *graphs.Value) *graphs.Value { return graphs.Softmax(x, 1) }},
		{"LogSoftmax/last", func(x *graphs.Value) *graphs.Value { return graphs.LogSoftmax(x, -1) }},
		{"LogSoftmax/axis0", func(x *graphs.Value) *graphs.Value { return graphs.LogSoftmax(x, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inputs := x
			if strings.HasPrefix(tc.name, "ReduceMax") { // no near-ties for finite differences to cross
				inputs = []in{{Name: "x", Shape: x[0].Shape, Values: distinct(24)}}
			}
			gradtest.Check(t, gradtest.Spec{Inputs: inputs, Build: func(v []*graphs.Value) *graphs.Value { return tc.build(v[0]) }})
		})
	}
}

func TestGradShape(t *testing.T) {
	x := in{Name: "x", Shape: []int64{2, 3, 4}}
	one := func(f func(*graphs.Value) *graphs.Value) func([]*graphs.Value) *graphs.Value {
		return func(v []*graphs.Value) *graphs.Value { return f(v[0]) }
	}
	for _, tc := range []struct {
		name   string
		inputs []in
		build  func([]*graphs.Value) *graphs.Value
	}{
		{"Reshape", []in{x}, one(func(x *graphs.Value) *graphs.Value { return graphs.Reshape(x, 4, -1) })},
		{"Flatten", []in{x}, one(func(x *graphs.Value) *graphs.Value { return graphs.Flatten(x, 2) })},
		{"Squeeze", []in{{Name: "x", Shape: []int64{2, 1, 3}}}, one(func(x *graphs.Value) *graphs.Value { return graphs.Squeeze(x, 1) })},
		{"Unsqueeze", []in{x}, one(func(x *graphs.Value) *graphs.Value { return graphs.Unsqueeze(x, 0, 3) })},
		{"Transpose", []in{x}, one(func(x *graphs.Value) *graphs.Value { return graphs.Transpose(x, 2, 0, 1) })},
		{"Concat", []in{x, {Name: "y", Shape: []int64{2, 1, 4}}}, func(v []*graphs.Value) *graphs.Value { return graphs.Concat(1, v[0], v[1]) }},
		{"Split", []in{x}, one(func(x *graphs.Value) *graphs.Value {
			p := graphs.Split(x, 2, 1, 3)
			return graphs.Mul(p[0], graphs.ReduceSum(p[1], []int64{2}, true))
		})},
		{"Split/unused-piece", []in{x}, one(func(x *graphs.Value) *graphs.Value { return graphs.Split(x, 1, 2, 1)[1] })},
		{"Slice/step1", []in{x}, one(func(x *graphs.Value) *graphs.Value {
			return graphs.Slice(x, []int64{1, 0}, []int64{3, -1}, []int64{1, 2}, nil)
		})},
		{"Slice/step2", []in{{Name: "x", Shape: []int64{2, 7}}}, one(func(x *graphs.Value) *graphs.Value {
			return graphs.Slice(x, []int64{1}, []int64{7}, []int64{1}, []int64{2})
		})},
		{"Slice/negative-step", []in{{Name: "x", Shape: []int64{2, 7}}}, one(func(x *graphs.Value) *graphs.Value {
			return graphs.Slice(x, []int64{-2}, []int64{0}, []int64{1}, []int64{-2})
		})},
		{"Slice/reverse-clamped", []in{{Name: "x", Shape: []int64{2, 5}}}, one(func(x *graphs.Value) *graphs.Value {
			return graphs.Slice(x, []int64{100}, []int64{-100}, []int64{1}, []int64{-1})
		})},
		{"Gather/1d", []in{x, {Name: "i", Shape: []int64{5}, Labels: 3}}, func(v []*graphs.Value) *graphs.Value { return graphs.Gather(v[0], v[1], 1) }},
		{"Gather/2d-axis0", []in{x, {Name: "i", Shape: []int64{2, 2}, Labels: 2}}, func(v []*graphs.Value) *graphs.Value { return graphs.Gather(v[0], v[1], 0) }},
		{"GatherElements", []in{x, {Name: "i", Shape: []int64{2, 3, 2}, Labels: 4}}, func(v []*graphs.Value) *graphs.Value {
			return graphs.GatherElements(v[0], v[1], 2)
		}},
		{"ScatterElements/none", []in{x, {Name: "u", Shape: []int64{2, 3, 1}}}, func(v []*graphs.Value) *graphs.Value {
			b := v[0].Builder()
			idx := b.ConstantInt64([]int64{2, 3, 1}, []int64{0, 3, 1, 2, 0, 3})
			return graphs.ScatterElements(v[0], idx, v[1], 2, "none")
		}},
		{"ScatterElements/add", []in{x, {Name: "u", Shape: []int64{2, 3, 2}}, {Name: "i", Shape: []int64{2, 3, 2}, Labels: 4}},
			func(v []*graphs.Value) *graphs.Value { return graphs.ScatterElements(v[0], v[2], v[1], 2, "add") }},
		{"Expand", []in{{Name: "x", Shape: []int64{3, 1}}}, one(func(x *graphs.Value) *graphs.Value { return graphs.Expand(x, 2, 3, 4) })},
		{"Tile", []in{{Name: "x", Shape: []int64{2, 3}}}, one(func(x *graphs.Value) *graphs.Value { return graphs.Tile(x, 2, 3) })},
		{"Pad/constant", []in{x}, one(func(x *graphs.Value) *graphs.Value {
			return graphs.Pad(x, []int64{0, 1, 2, 0, 0, 1}, "constant", 0.5)
		})},
		{"Pad/crop", []in{x}, one(func(x *graphs.Value) *graphs.Value {
			return graphs.Pad(x, []int64{0, -1, 1, 0, 1, -2}, "constant", 0)
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gradtest.Check(t, gradtest.Spec{Inputs: tc.inputs, Build: tc.build})
		})
	}
}

func TestGradMatMulGemm(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inputs []in
		build  func([]*graphs.Value) *graphs.Value
	}{
		{"MatMul/2d", []in{{Name: "a", Shape: []int64{3, 4}}, {Name: "b", Shape: []int64{4, 2}}}, nil},
		{"MatMul/batch-broadcast", []in{{Name: "a", Shape: []int64{2, 3, 4}}, {Name: "b", Shape: []int64{4, 2}}}, nil},
		{"MatMul/batch-both", []in{{Name: "a", Shape: []int64{2, 1, 3, 4}}, {Name: "b", Shape: []int64{3, 4, 2}}}, nil},
		{"MatMul/vec-mat", []in{{Name: "a", Shape: []int64{4}}, {Name: "b", Shape: []int64{2, 4, 3}}}, nil},
		{"MatMul/mat-vec", []in{{Name: "a", Shape: []int64{2, 3, 4}}, {Name: "b", Shape: []int64{4}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gradtest.Check(t, gradtest.Spec{Inputs: tc.inputs, Build: func(v []*graphs.Value) *graphs.Value { return graphs.MatMul(v[0], v[1]) }})
		})
	}
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			a, b := []int64{3, 4}, []int64{4, 2}
			if ta {
				a = []int64{4, 3}
			}
			if tb {
				b = []int64{2, 4}
			}
			t.Run("Gemm", func(t *testing.T) {
				gradtest.Check(t, gradtest.Spec{
					Inputs: []in{{Name: "a", Shape: a}, {Name: "b", Shape: b}, {Name: "c", Shape: []int64{2}}},
					Build: func(v []*graphs.Value) *graphs.Value {
						return graphs.Gemm(v[0], v[1], v[2], graphs.GemmOpts{Alpha: 0.7, Beta: 1.5, TransA: ta, TransB: tb})
					},
				})
			})
		}
	}
}

func TestGradConv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		x, w  []int64
		bias  bool
		opts  graphs.ConvOpts
		trans bool
	}{
		{"3x3/stride1/pad1", []int64{2, 3, 5, 5}, []int64{4, 3, 3, 3}, true, graphs.ConvOpts{Pads: []int64{1, 1, 1, 1}}, false},
		{"3x3/stride2/pad1", []int64{2, 3, 6, 6}, []int64{4, 3, 3, 3}, false, graphs.ConvOpts{Strides: []int64{2, 2}, Pads: []int64{1, 1, 1, 1}}, false},
		{"1x1/stride2", []int64{2, 3, 5, 5}, []int64{4, 3, 1, 1}, false, graphs.ConvOpts{Strides: []int64{2, 2}}, false},
		{"7x7/stride2/pad3", []int64{1, 2, 9, 9}, []int64{3, 2, 7, 7}, false, graphs.ConvOpts{Strides: []int64{2, 2}, Pads: []int64{3, 3, 3, 3}}, false},
		{"3x3/dilation2", []int64{1, 2, 7, 7}, []int64{3, 2, 3, 3}, true, graphs.ConvOpts{Dilations: []int64{2, 2}, Pads: []int64{1, 2, 2, 1}}, false},
		{"groups2", []int64{2, 4, 5, 5}, []int64{6, 2, 3, 3}, true, graphs.ConvOpts{Group: 2, Pads: []int64{1, 1, 1, 1}}, false},
		{"depthwise/stride2", []int64{1, 3, 6, 6}, []int64{3, 1, 3, 3}, false, graphs.ConvOpts{Group: 3, Strides: []int64{2, 2}, Pads: []int64{1, 1, 1, 1}}, false},
		{"asymmetric-stride", []int64{1, 2, 6, 7}, []int64{2, 2, 2, 3}, false, graphs.ConvOpts{Strides: []int64{1, 2}}, false},
		{"ConvTranspose/stride1", []int64{2, 3, 4, 4}, []int64{3, 2, 3, 3}, true, graphs.ConvOpts{Pads: []int64{1, 1, 1, 1}}, true},
		{"ConvTranspose/stride2/outpad", []int64{1, 2, 3, 3}, []int64{2, 3, 3, 3}, false, graphs.ConvOpts{Strides: []int64{2, 2}, Pads: []int64{1, 1, 1, 1}, OutputPadding: []int64{1, 1}}, true},
		{"ConvTranspose/groups2", []int64{1, 4, 3, 3}, []int64{4, 1, 2, 2}, false, graphs.ConvOpts{Group: 2, Strides: []int64{2, 2}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inputs := []in{{Name: "x", Shape: tc.x}, {Name: "w", Shape: tc.w}}
			if tc.bias {
				m := tc.w[0]
				if tc.trans {
					m = tc.w[1] * max(tc.opts.Group, 1)
				}
				inputs = append(inputs, in{Name: "b", Shape: []int64{m}})
			}
			gradtest.Check(t, gradtest.Spec{
				Inputs: inputs,
				Step:   1e-2, // bilinear: central differences are exact, a larger step beats float32 rounding
				Build: func(v []*graphs.Value) *graphs.Value {
					var bias *graphs.Value
					if tc.bias {
						bias = v[2]
					}
					if tc.trans {
						return graphs.ConvTranspose(v[0], v[1], bias, tc.opts)
					}
					return graphs.Conv(v[0], v[1], bias, tc.opts)
				},
			})
		})
	}
}

// distinct gives n values 0.01 apart (a permutation of 0, 0.01, …), so that
// maxima have no near-ties a finite-difference step could cross.
func distinct(n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32((i*37)%n) * 0.01
	}
	return out
}

func TestGradPool(t *testing.T) {
	x := in{Name: "x", Shape: []int64{2, 2, 6, 6}, Values: distinct(144)}
	for _, tc := range []struct {
		name  string
		build func(*graphs.Value) *graphs.Value
	}{
		{"MaxPool/3x3/stride2/pad1", func(x *graphs.Value) *graphs.Value {
			return graphs.MaxPool(x, graphs.PoolOpts{Kernel: []int64{3, 3}, Strides: []int64{2, 2}, Pads: []int64{1, 1, 1, 1}})
		}},
		{"MaxPool/2x2/stride2/indices", func(x *graphs.Value) *graphs.Value {
			y, _ := graphs.MaxPoolWithIndices(x, graphs.PoolOpts{Kernel: []int64{2, 2}, Strides: []int64{2, 2}})
			return y
		}},
		{"AveragePool/2x2/stride2", func(x *graphs.Value) *graphs.Value {
			return graphs.AveragePool(x, graphs.PoolOpts{Kernel: []int64{2, 2}, Strides: []int64{2, 2}})
		}},
		{"AveragePool/3x3/pad1/exclude-pad", func(x *graphs.Value) *graphs.Value {
			return graphs.AveragePool(x, graphs.PoolOpts{Kernel: []int64{3, 3}, Strides: []int64{2, 2}, Pads: []int64{1, 1, 1, 1}})
		}},
		{"AveragePool/3x3/pad1/include-pad", func(x *graphs.Value) *graphs.Value {
			return graphs.AveragePool(x, graphs.PoolOpts{Kernel: []int64{3, 3}, Pads: []int64{1, 1, 1, 1}, CountIncludePad: true})
		}},
		{"GlobalAveragePool", graphs.GlobalAveragePool},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gradtest.Check(t, gradtest.Spec{Inputs: []in{x}, Build: func(v []*graphs.Value) *graphs.Value { return tc.build(v[0]) }})
		})
	}
}

func TestGradNormalization(t *testing.T) {
	c := []int64{3}
	positiveVar := func(x float64) float64 { return math.Abs(x) + 0.5 }
	t.Run("BatchNormalization/inference", func(t *testing.T) {
		gradtest.Check(t, gradtest.Spec{
			Inputs: []in{{Name: "x", Shape: []int64{2, 3, 2, 2}}, {Name: "s", Shape: c}, {Name: "b", Shape: c},
				{Name: "m", Shape: c}, {Name: "v", Shape: c, Transform: positiveVar}},
			Build: func(v []*graphs.Value) *graphs.Value {
				return graphs.BatchNormalization(v[0], v[1], v[2], v[3], v[4], graphs.BatchNormOpts{})
			},
		})
	})
	t.Run("BatchNormalization/training", func(t *testing.T) {
		gradtest.Check(t, gradtest.Spec{
			Inputs: []in{{Name: "x", Shape: []int64{3, 3, 2, 2}}, {Name: "s", Shape: c}, {Name: "b", Shape: c},
				{Name: "m", Shape: c, NoGrad: true}, {Name: "v", Shape: c, Transform: positiveVar, NoGrad: true}},
			Build: func(v []*graphs.Value) *graphs.Value {
				y, _, _ := graphs.BatchNormalizationTraining(v[0], v[1], v[2], v[3], v[4], graphs.BatchNormOpts{})
				return y
			},
		})
	})
	t.Run("BatchNormalization/training-2d", func(t *testing.T) {
		gradtest.Check(t, gradtest.Spec{
			Inputs: []in{{Name: "x", Shape: []int64{4, 3}}, {Name: "s", Shape: c}, {Name: "b", Shape: c},
				{Name: "m", Shape: c, NoGrad: true}, {Name: "v", Shape: c, Transform: positiveVar, NoGrad: true}},
			Build: func(v []*graphs.Value) *graphs.Value {
				y, _, _ := graphs.BatchNormalizationTraining(v[0], v[1], v[2], v[3], v[4], graphs.BatchNormOpts{})
				return y
			},
		})
	})
	for _, tc := range []struct {
		axis      int64
		x, params []int64
	}{{-1, []int64{2, 3, 4}, []int64{4}}, {1, []int64{2, 4, 2}, []int64{4, 2}}} {
		axis := tc.axis
		t.Run("LayerNormalization", func(t *testing.T) {
			gradtest.Check(t, gradtest.Spec{
				Inputs: []in{{Name: "x", Shape: tc.x}, {Name: "s", Shape: tc.params}, {Name: "b", Shape: tc.params}},
				Build: func(v []*graphs.Value) *graphs.Value {
					return graphs.LayerNormalization(v[0], v[1], v[2], axis, 1e-5)
				},
			})
		})
	}
}

func TestGradCol2Im(t *testing.T) {
	for _, tc := range []struct {
		name  string
		x     []int64
		image []int64
		block []int64
		opts  graphs.ConvOpts
	}{
		{"2x2/stride1", []int64{1, 2 * 4, 9}, []int64{4, 4}, []int64{2, 2}, graphs.ConvOpts{}},
		{"3x3/stride2/pad1", []int64{2, 1 * 9, 9}, []int64{5, 5}, []int64{3, 3}, graphs.ConvOpts{Strides: []int64{2, 2}, Pads: []int64{1, 1, 1, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gradtest.Check(t, gradtest.Spec{
				Inputs: []in{{Name: "x", Shape: tc.x}},
				Build: func(v []*graphs.Value) *graphs.Value {
					return graphs.Col2Im(v[0], tc.image, tc.block, tc.opts)
				},
			})
		})
	}
}
