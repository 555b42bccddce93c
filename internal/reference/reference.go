// Package reference computes ONNX operators the slow, obvious way, in plain
// Go with float64 arithmetic, so that tests can compare what ONNX Runtime
// computes for a graph with an independent result.
//
// Every function here is written as a direct loop over the definition in
// the ONNX operator documentation; speed does not matter, clarity does.
// Tensors are dense, row-major, and hold float64 elements whatever their
// ONNX element type: int64 values (indices, labels) are stored exactly as
// float64 (up to 2⁵³), bools as 0 and 1.
//
// Functions panic with a "reference: ..." message on shapes or arguments
// that the operator does not allow; that is a bug in the calling test.
package reference

import (
	"fmt"
	"math"
	"slices"
)

// Tensor is a dense row-major tensor. A scalar has an empty Shape and one
// element.
type Tensor struct {
	Shape []int
	Data  []float64
}

// New returns a zero tensor of the given shape.
func New(shape ...int) *Tensor {
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("reference: negative dimension in shape %v", shape))
		}
	}
	return &Tensor{Shape: slices.Clone(shape), Data: make([]float64, Numel(shape))}
}

// FromData returns a tensor holding data (not copied) with the given shape.
// It panics if the sizes disagree.
func FromData(data []float64, shape ...int) *Tensor {
	if len(data) != Numel(shape) {
		panic(fmt.Sprintf("reference: shape %v needs %d values, got %d", shape, Numel(shape), len(data)))
	}
	return &Tensor{Shape: slices.Clone(shape), Data: data}
}

// FromFloat32 returns a tensor with the float32 elements data and the given
// shape (an ONNX shape, hence int64).
func FromFloat32(data []float32, shape ...int64) *Tensor { return fromNumbers(data, shape) }

// FromInt64 returns a tensor with the int64 elements data and the given shape.
func FromInt64(data []int64, shape ...int64) *Tensor { return fromNumbers(data, shape) }

// fromNumbers converts data to a float64 tensor of the given shape,
// panicking if the element count does not match.
func fromNumbers[T float32 | int64](data []T, shape []int64) *Tensor {
	t := New(ints(shape)...)
	if len(data) != len(t.Data) {
		panic(fmt.Sprintf("reference: shape %v needs %d values, got %d", shape, len(t.Data), len(data)))
	}
	for i, v := range data {
		t.Data[i] = float64(v)
	}
	return t
}

// FromBool returns a tensor with data as 0 (false) and 1 (true) and the given shape.
func FromBool(data []bool, shape ...int64) *Tensor {
	t := New(ints(shape)...)
	if len(data) != len(t.Data) {
		panic(fmt.Sprintf("reference: shape %v needs %d values, got %d", shape, len(t.Data), len(data)))
	}
	for i, v := range data {
		if v {
			t.Data[i] = 1
		}
	}
	return t
}

// Scalar returns a rank-0 tensor holding v.
func Scalar(v float64) *Tensor { return &Tensor{Data: []float64{v}} }

func ints(s []int64) []int {
	out := make([]int, len(s))
	for i, v := range s {
		out[i] = int(v)
	}
	return out
}

// Numel returns the number of elements of a tensor of the given shape (1 for []).
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Rank returns len(t.Shape).
func (t *Tensor) Rank() int { return len(t.Shape) }

// Shape64 returns the shape as int64s, the form ONNX shapes take.
func (t *Tensor) Shape64() []int64 {
	out := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		out[i] = int64(d)
	}
	return out
}

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
}

// Float32 returns the elements rounded to float32.
func (t *Tensor) Float32() []float32 {
	out := make([]float32, len(t.Data))
	for i, v := range t.Data {
		out[i] = float32(v)
	}
	return out
}

// Int64 returns the elements converted to int64 (truncating any fraction).
func (t *Tensor) Int64() []int64 {
	out := make([]int64, len(t.Data))
	for i, v := range t.Data {
		out[i] = int64(v)
	}
	return out
}

// Bool returns the elements as bools: true where nonzero.
func (t *Tensor) Bool() []bool {
	out := make([]bool, len(t.Data))
	for i, v := range t.Data {
		out[i] = v != 0
	}
	return out
}

// Offset returns the position in Data of the element at multi-index idx.
// It panics if idx has the wrong length or is out of range.
func (t *Tensor) Offset(idx ...int) int {
	if len(idx) != len(t.Shape) {
		panic(fmt.Sprintf("reference: index %v for shape %v", idx, t.Shape))
	}
	off := 0
	for i, d := range t.Shape {
		if idx[i] < 0 || idx[i] >= d {
			panic(fmt.Sprintf("reference: index %v out of range for shape %v", idx, t.Shape))
		}
		off = off*d + idx[i]
	}
	return off
}

// Index returns the multi-index of the element at position off in Data.
func (t *Tensor) Index(off int) []int {
	idx := make([]int, len(t.Shape))
	for i := len(t.Shape) - 1; i >= 0; i-- {
		idx[i] = off % t.Shape[i]
		off /= t.Shape[i]
	}
	return idx
}

// At returns the element at multi-index idx.
func (t *Tensor) At(idx ...int) float64 { return t.Data[t.Offset(idx...)] }

// Set stores v at multi-index idx.
func (t *Tensor) Set(v float64, idx ...int) { t.Data[t.Offset(idx...)] = v }

// Reshape returns a copy of t with the given shape, which must have the
// same number of elements (no 0 or -1 conventions).
func Reshape(t *Tensor, shape ...int) *Tensor {
	if Numel(shape) != len(t.Data) {
		panic(fmt.Sprintf("reference: cannot reshape %v to %v", t.Shape, shape))
	}
	return &Tensor{Shape: slices.Clone(shape), Data: slices.Clone(t.Data)}
}

// Compare returns nil when got and want have the same shape and every pair
// of elements satisfies |g − w| ≤ atol + rtol·|w| (NaN matches only NaN, an
// infinity only the same infinity). Otherwise the error names the first
// mismatching element by its multi-index.
func Compare(got, want *Tensor, atol, rtol float64) error {
	if !slices.Equal(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	for i, w := range want.Data {
		g := got.Data[i]
		ok := false
		switch {
		case math.IsNaN(w) || math.IsNaN(g):
			ok = math.IsNaN(w) && math.IsNaN(g)
		case math.IsInf(w, 0) || math.IsInf(g, 0):
			ok = g == w
		default:
			ok = math.Abs(g-w) <= atol+rtol*math.Abs(w)
		}
		if !ok {
			return fmt.Errorf("element %v (flat %d of %d): got %.8g, want %.8g (|diff| %.3g > %.3g + %.3g·|want|)",
				want.Index(i), i, len(want.Data), g, w, math.Abs(g-w), atol, rtol)
		}
	}
	return nil
}

// normAxis returns axis made non-negative for rank r, panicking when out of range.
func normAxis(axis, r int) int {
	if axis < -r || axis >= r {
		panic(fmt.Sprintf("reference: axis %d out of range for rank %d", axis, r))
	}
	if axis < 0 {
		axis += r
	}
	return axis
}

// BroadcastShapes returns the ONNX multidirectional (numpy) broadcast of the
// shapes, aligned at their last dimensions. It panics if they do not broadcast.
func BroadcastShapes(shapes ...[]int) []int {
	n := 0
	for _, s := range shapes {
		n = max(n, len(s))
	}
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		for k := range s {
			d := s[len(s)-1-k]
			o := &out[n-1-k]
			switch {
			case d == *o || d == 1:
			case *o == 1:
				*o = d
			default:
				panic(fmt.Sprintf("reference: shapes %v do not broadcast", shapes))
			}
		}
	}
	return out
}

// broadcastAt returns the element of t that lands at output multi-index idx
// when t is broadcast to an output of rank len(idx).
func broadcastAt(t *Tensor, idx []int) float64 {
	lead := len(idx) - len(t.Shape)
	src := make([]int, len(t.Shape))
	for i, d := range t.Shape {
		if d != 1 {
			src[i] = idx[lead+i]
		}
	}
	return t.At(src...)
}

// Map returns f applied to every element of x.
func Map(x *Tensor, f func(float64) float64) *Tensor {
	out := New(x.Shape...)
	for i, v := range x.Data {
		out.Data[i] = f(v)
	}
	return out
}

// Map2 returns f(a, b) elementwise, with a and b broadcast together.
func Map2(a, b *Tensor, f func(x, y float64) float64) *Tensor {
	out := New(BroadcastShapes(a.Shape, b.Shape)...)
	for i := range out.Data {
		idx := out.Index(i)
		out.Data[i] = f(broadcastAt(a, idx), broadcastAt(b, idx))
	}
	return out
}

// Map3 returns f(a, b, c) elementwise, with a, b and c broadcast together.
func Map3(a, b, c *Tensor, f func(x, y, z float64) float64) *Tensor {
	out := New(BroadcastShapes(a.Shape, b.Shape, c.Shape)...)
	for i := range out.Data {
		idx := out.Index(i)
		out.Data[i] = f(broadcastAt(a, idx), broadcastAt(b, idx), broadcastAt(c, idx))
	}
	return out
}

// Where returns x where cond is nonzero and y elsewhere, all three broadcast
// together (ONNX Where).
func Where(cond, x, y *Tensor) *Tensor {
	return Map3(cond, x, y, func(c, a, b float64) float64 {
		if c != 0 {
			return a
		}
		return b
	})
}

// Bool returns 1 for true and 0 for false: the encoding of bool tensors.
func Bool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Expand broadcasts x against shape (ONNX Expand): the result has the
// broadcast of x.Shape and shape.
func Expand(x *Tensor, shape []int) *Tensor {
	out := New(BroadcastShapes(x.Shape, shape)...)
	for i := range out.Data {
		out.Data[i] = broadcastAt(x, out.Index(i))
	}
	return out
}

// reduceAxes returns which axes of a rank-r tensor are reduced: all of them
// when axes is empty.
func reduceAxes(axes []int, r int) []bool {
	red := make([]bool, r)
	for i := range red {
		red[i] = len(axes) == 0
	}
	for _, a := range axes {
		a = normAxis(a, r)
		if red[a] {
			panic(fmt.Sprintf("reference: repeated axis in %v", axes))
		}
		red[a] = true
	}
	return red
}

// Reduce folds x over axes (all axes when empty) with f, starting every
// output element at init. With keepdims the reduced axes stay as size 1,
// otherwise they are removed.
func Reduce(x *Tensor, axes []int, keepdims bool, init float64, f func(acc, v float64) float64) *Tensor {
	red := reduceAxes(axes, x.Rank())
	var shape []int
	for i, d := range x.Shape {
		switch {
		case !red[i]:
			shape = append(shape, d)
		case keepdims:
			shape = append(shape, 1)
		}
	}
	out := New(shape...)
	for i := range out.Data {
		out.Data[i] = init
	}
	for off, v := range x.Data {
		idx := x.Index(off)
		var o []int
		for i, k := range idx {
			switch {
			case !red[i]:
				o = append(o, k)
			case keepdims:
				o = append(o, 0)
			}
		}
		p := out.Offset(o...)
		out.Data[p] = f(out.Data[p], v)
	}
	return out
}

// ReduceSum sums x over axes (all when empty) (ONNX ReduceSum).
func ReduceSum(x *Tensor, axes []int, keepdims bool) *Tensor {
	return Reduce(x, axes, keepdims, 0, func(acc, v float64) float64 { return acc + v })
}

// ReduceMean averages x over axes (all when empty) (ONNX ReduceMean).
func ReduceMean(x *Tensor, axes []int, keepdims bool) *Tensor {
	s := ReduceSum(x, axes, keepdims)
	n := float64(len(x.Data)) / float64(len(s.Data))
	return Map(s, func(v float64) float64 { return v / n })
}

// ReduceMax takes the maximum of x over axes (all when empty) (ONNX ReduceMax).
func ReduceMax(x *Tensor, axes []int, keepdims bool) *Tensor {
	return Reduce(x, axes, keepdims, math.Inf(-1), math.Max)
}

// ArgMax returns the index of the first maximum of x along axis (ONNX
// ArgMax with select_last_index 0).
func ArgMax(x *Tensor, axis int, keepdims bool) *Tensor {
	axis = normAxis(axis, x.Rank())
	best := ReduceMax(x, []int{axis}, true)
	arg := New(best.Shape...)
	found := make([]bool, len(arg.Data))
	for off, v := range x.Data {
		idx := x.Index(off)
		k := idx[axis]
		idx[axis] = 0
		p := best.Offset(idx...)
		if !found[p] && v == best.Data[p] {
			found[p] = true
			arg.Data[p] = float64(k)
		}
	}
	if !keepdims {
		shape := slices.Delete(slices.Clone(x.Shape), axis, axis+1)
		arg = Reshape(arg, shape...)
	}
	return arg
}

// Softmax returns exp(x)/Σ exp(x) along axis (ONNX Softmax-13).
func Softmax(x *Tensor, axis int) *Tensor {
	return Map(LogSoftmax(x, axis), math.Exp)
}

// LogSoftmax returns x − log Σ exp(x) along axis, computed stably (ONNX LogSoftmax-13).
func LogSoftmax(x *Tensor, axis int) *Tensor {
	axis = normAxis(axis, x.Rank())
	m := ReduceMax(x, []int{axis}, true)
	shifted := Map2(x, m, func(a, b float64) float64 { return a - b })
	lse := Map(ReduceSum(Map(shifted, math.Exp), []int{axis}, true), math.Log)
	return Map2(shifted, lse, func(a, b float64) float64 { return a - b })
}

// MatMul returns the matrix product with numpy semantics (ONNX MatMul): a
// 1-D a is treated as [1, K] and a 1-D b as [K, 1], with the added axis
// removed from the result; leading batch axes broadcast.
func MatMul(a, b *Tensor) *Tensor {
	as, bs := a.Shape, b.Shape
	if len(as) == 0 || len(bs) == 0 {
		panic("reference: MatMul of a scalar")
	}
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	a2, b2 := FromData(a.Data, as...), FromData(b.Data, bs...)
	m, k, n := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	if bs[len(bs)-2] != k {
		panic(fmt.Sprintf("reference: MatMul inner dimensions differ: %v × %v", a.Shape, b.Shape))
	}
	batch := BroadcastShapes(as[:len(as)-2], bs[:len(bs)-2])
	out := New(append(slices.Clone(batch), m, n)...)
	for off := range out.Data {
		idx := out.Index(off)
		bi := idx[:len(batch)]
		i, j := idx[len(batch)], idx[len(batch)+1]
		s := 0.0
		for p := range k {
			s += broadcastAt(a2, append(slices.Clone(bi), i, p)) * broadcastAt(b2, append(slices.Clone(bi), p, j))
		}
		out.Data[off] = s
	}
	shape := slices.Clone(batch)
	if len(a.Shape) > 1 {
		shape = append(shape, m)
	}
	if len(b.Shape) > 1 {
		shape = append(shape, n)
	}
	return Reshape(out, shape...)
}

// Transpose permutes the axes of x: output axis i is input axis perm[i]; an
// empty perm reverses the axes (ONNX Transpose).
func Transpose(x *Tensor, perm ...int) *Tensor {
	r := x.Rank()
	if len(perm) == 0 {
		for i := r - 1; i >= 0; i-- {
			perm = append(perm, i)
		}
	}
	shape := make([]int, r)
	for i, p := range perm {
		shape[i] = x.Shape[p]
	}
	out := New(shape...)
	src := make([]int, r)
	for off := range out.Data {
		idx := out.Index(off)
		for i, p := range perm {
			src[p] = idx[i]
		}
		out.Data[off] = x.At(src...)
	}
	return out
}

// Gemm returns alpha·A'·B' + beta·C for 2-D a and b, where A' is aᵀ when
// transA (likewise B'), and c (nil for none) broadcasts to [M, N] (ONNX Gemm).
func Gemm(a, b, c *Tensor, alpha, beta float64, transA, transB bool) *Tensor {
	if transA {
		a = Transpose(a, 1, 0)
	}
	if transB {
		b = Transpose(b, 1, 0)
	}
	y := Map(MatMul(a, b), func(v float64) float64 { return alpha * v })
	if c == nil {
		return y
	}
	return Map2(y, c, func(v, w float64) float64 { return v + beta*w })
}

// ConvParams are the attributes of 2-D Conv, ConvTranspose and Col2Im. Nil
// slices and a zero Group mean the ONNX defaults: strides, dilations and
// group 1, pads and output padding 0.
type ConvParams struct {
	Strides       []int // [sH, sW]
	Pads          []int // [top, left, bottom, right]
	Dilations     []int // [dH, dW]
	Group         int
	OutputPadding []int // [oH, oW], ConvTranspose only
}

func (p ConvParams) norm() ConvParams {
	or := func(s []int, def ...int) []int {
		if s == nil {
			return def
		}
		return s
	}
	p.Strides = or(p.Strides, 1, 1)
	p.Pads = or(p.Pads, 0, 0, 0, 0)
	p.Dilations = or(p.Dilations, 1, 1)
	p.OutputPadding = or(p.OutputPadding, 0, 0)
	if p.Group == 0 {
		p.Group = 1
	}
	return p
}

// Conv returns the 2-D cross-correlation of x [N, C, H, W] with w
// [M, C/group, kH, kW], plus bias [M] unless nil (ONNX Conv):
//
//	y[n, m, i, j] = bias[m] + Σ_{c, p, q} x[n, g·C/group + c, i·sH − padT + p·dH, j·sW − padL + q·dW] · w[m, c, p, q]
//
// with g = m/(M/group) and out-of-range input positions reading 0.
func Conv(x, w, bias *Tensor, p ConvParams) *Tensor {
	p = p.norm()
	n, c, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	m, cg, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	if c != cg*p.Group || m%p.Group != 0 {
		panic(fmt.Sprintf("reference: Conv channels: x %v, w %v, group %d", x.Shape, w.Shape, p.Group))
	}
	oh := (h+p.Pads[0]+p.Pads[2]-p.Dilations[0]*(kh-1)-1)/p.Strides[0] + 1
	ow := (wd+p.Pads[1]+p.Pads[3]-p.Dilations[1]*(kw-1)-1)/p.Strides[1] + 1
	mg := m / p.Group
	y := New(n, m, oh, ow)
	for b := range n {
		for oc := range m {
			g := oc / mg
			for i := range oh {
				for j := range ow {
					s := 0.0
					if bias != nil {
						s = bias.Data[oc]
					}
					for ic := range cg {
						for ki := range kh {
							for kj := range kw {
								ii := i*p.Strides[0] - p.Pads[0] + ki*p.Dilations[0]
								jj := j*p.Strides[1] - p.Pads[1] + kj*p.Dilations[1]
								if ii < 0 || ii >= h || jj < 0 || jj >= wd {
									continue
								}
								s += x.At(b, g*cg+ic, ii, jj) * w.At(oc, ic, ki, kj)
							}
						}
					}
					y.Set(s, b, oc, i, j)
				}
			}
		}
	}
	return y
}

// ConvTranspose returns the transposed 2-D convolution of x [N, C, H, W]
// with w [C, M/group, kH, kW], plus bias [M] unless nil (ONNX
// ConvTranspose): every input element scatters x·w into the output at
// (i·sH − padT + p·dH, j·sW − padL + q·dW). The output is
// [N, M, sH·(H−1) + outPadH + dH·(kH−1) + 1 − padT − padB, …].
func ConvTranspose(x, w, bias *Tensor, p ConvParams) *Tensor {
	p = p.norm()
	n, c, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	mg, kh, kw := w.Shape[1], w.Shape[2], w.Shape[3]
	if w.Shape[0] != c || c%p.Group != 0 {
		panic(fmt.Sprintf("reference: ConvTranspose channels: x %v, w %v, group %d", x.Shape, w.Shape, p.Group))
	}
	m, cg := mg*p.Group, c/p.Group
	oh := p.Strides[0]*(h-1) + p.OutputPadding[0] + p.Dilations[0]*(kh-1) + 1 - p.Pads[0] - p.Pads[2]
	ow := p.Strides[1]*(wd-1) + p.OutputPadding[1] + p.Dilations[1]*(kw-1) + 1 - p.Pads[1] - p.Pads[3]
	y := New(n, m, oh, ow)
	for b := range n {
		for ic := range c {
			g := ic / cg
			for i := range h {
				for j := range wd {
					v := x.At(b, ic, i, j)
					for om := range mg {
						for ki := range kh {
							for kj := range kw {
								oi := i*p.Strides[0] - p.Pads[0] + ki*p.Dilations[0]
								oj := j*p.Strides[1] - p.Pads[1] + kj*p.Dilations[1]
								if oi < 0 || oi >= oh || oj < 0 || oj >= ow {
									continue
								}
								o := y.Offset(b, g*mg+om, oi, oj)
								y.Data[o] += v * w.At(ic, om, ki, kj)
							}
						}
					}
				}
			}
		}
	}
	if bias != nil {
		for off := range y.Data {
			y.Data[off] += bias.Data[y.Index(off)[1]]
		}
	}
	return y
}

// PoolParams are the attributes of 2-D MaxPool and AveragePool. Nil Strides
// mean 1, nil Pads mean 0.
type PoolParams struct {
	Kernel          []int // [kH, kW]
	Strides         []int // [sH, sW]
	Pads            []int // [top, left, bottom, right]
	CountIncludePad bool  // AveragePool divides by kH·kW even where the window covers padding
}

// pool calls visit(out, window) for every output position of a 2-D pooling
// of x [N, C, H, W], with the in-range input offsets of its window.
func pool(x *Tensor, p PoolParams, visit func(out []int, window []int)) []int {
	c := ConvParams{Strides: p.Strides, Pads: p.Pads}.norm()
	n, ch, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	kh, kw := p.Kernel[0], p.Kernel[1]
	oh := (h+c.Pads[0]+c.Pads[2]-kh)/c.Strides[0] + 1
	ow := (w+c.Pads[1]+c.Pads[3]-kw)/c.Strides[1] + 1
	for b := range n {
		for k := range ch {
			for i := range oh {
				for j := range ow {
					var window []int
					for ki := range kh {
						for kj := range kw {
							ii, jj := i*c.Strides[0]-c.Pads[0]+ki, j*c.Strides[1]-c.Pads[1]+kj
							if ii >= 0 && ii < h && jj >= 0 && jj < w {
								window = append(window, x.Offset(b, k, ii, jj))
							}
						}
					}
					visit([]int{b, k, i, j}, window)
				}
			}
		}
	}
	return []int{n, ch, oh, ow}
}

// MaxPool returns the maximum over each window of x [N, C, H, W], where
// padding never wins, and the flat offset in x.Data (n·C·H·W + c·H·W + h·W +
// w) of the first maximal element (ONNX MaxPool with its Indices output).
func MaxPool(x *Tensor, p PoolParams) (y, indices *Tensor) {
	var vals, idx []float64
	shape := pool(x, p, func(_ []int, window []int) {
		best := window[0]
		for _, o := range window[1:] {
			if x.Data[o] > x.Data[best] {
				best = o
			}
		}
		vals = append(vals, x.Data[best])
		idx = append(idx, float64(best))
	})
	return FromData(vals, shape...), FromData(idx, shape...)
}

// AveragePool returns the mean over each window of x [N, C, H, W] (ONNX
// AveragePool): over the in-range elements only, or over kH·kW positions
// with padding counted as zeros when p.CountIncludePad.
func AveragePool(x *Tensor, p PoolParams) *Tensor {
	var vals []float64
	shape := pool(x, p, func(_ []int, window []int) {
		s := 0.0
		for _, o := range window {
			s += x.Data[o]
		}
		n := len(window)
		if p.CountIncludePad {
			n = p.Kernel[0] * p.Kernel[1]
		}
		vals = append(vals, s/float64(n))
	})
	return FromData(vals, shape...)
}

// GlobalAveragePool averages x [N, C, …] over every axis after the second,
// keeping them as size 1 (ONNX GlobalAveragePool).
func GlobalAveragePool(x *Tensor) *Tensor {
	var axes []int
	for i := 2; i < x.Rank(); i++ {
		axes = append(axes, i)
	}
	return ReduceMean(x, axes, true)
}

// channelShape returns a shape that broadcasts a [C] vector along axis 1 of a
// rank-r tensor: [C, 1, …, 1] with r−2 ones.
func channelShape(c, r int) []int {
	s := []int{c}
	for range r - 2 {
		s = append(s, 1)
	}
	return s
}

// BatchNorm normalises x [N, C, …] per channel (axis 1) with the given
// statistics: y = scale·(x − mean)/√(variance + eps) + bias, the inference
// form of ONNX BatchNormalization. scale, bias, mean and variance are [C].
func BatchNorm(x, scale, bias, mean, variance *Tensor, eps float64) *Tensor {
	cs := channelShape(x.Shape[1], x.Rank())
	r := func(t *Tensor) *Tensor { return Reshape(t, cs...) }
	y := Map2(x, r(mean), func(a, m float64) float64 { return a - m })
	y = Map2(y, r(variance), func(a, v float64) float64 { return a / math.Sqrt(v+eps) })
	y = Map2(y, r(scale), func(a, s float64) float64 { return a * s })
	return Map2(y, r(bias), func(a, b float64) float64 { return a + b })
}

// ChannelMoments returns the per-channel mean and variance of x [N, C, …]
// over every axis but 1, both [C]. The variance is the biased one (divided
// by the count n); multiply by n/(n−1) for the unbiased estimate.
func ChannelMoments(x *Tensor) (mean, variance *Tensor) {
	axes := []int{0}
	for i := 2; i < x.Rank(); i++ {
		axes = append(axes, i)
	}
	mean = ReduceMean(x, axes, false)
	m := Reshape(mean, channelShape(x.Shape[1], x.Rank())...)
	sq := Map2(x, m, func(a, b float64) float64 { return (a - b) * (a - b) })
	return mean, ReduceMean(sq, axes, false)
}

// LayerNorm normalises x over the axes from axis to the last:
// y = (x − mean)/√(var + eps)·scale + bias, with the biased variance; scale
// and bias (nil for none) have the shape x.Shape[axis:] (ONNX
// LayerNormalization).
func LayerNorm(x, scale, bias *Tensor, axis int, eps float64) *Tensor {
	axis = normAxis(axis, x.Rank())
	var axes []int
	for i := axis; i < x.Rank(); i++ {
		axes = append(axes, i)
	}
	mean := ReduceMean(x, axes, true)
	d := Map2(x, mean, func(a, m float64) float64 { return a - m })
	variance := ReduceMean(Map(d, func(v float64) float64 { return v * v }), axes, true)
	y := Map2(d, variance, func(a, v float64) float64 { return a / math.Sqrt(v+eps) })
	y = Map2(y, scale, func(a, s float64) float64 { return a * s })
	if bias != nil {
		y = Map2(y, bias, func(a, b float64) float64 { return a + b })
	}
	return y
}

// Concat joins xs along axis (ONNX Concat).
func Concat(axis int, xs ...*Tensor) *Tensor {
	axis = normAxis(axis, xs[0].Rank())
	shape := slices.Clone(xs[0].Shape)
	for _, x := range xs[1:] {
		shape[axis] += x.Shape[axis]
	}
	out := New(shape...)
	start := 0
	for _, x := range xs {
		for off, v := range x.Data {
			idx := x.Index(off)
			idx[axis] += start
			out.Set(v, idx...)
		}
		start += x.Shape[axis]
	}
	return out
}

// Split cuts x along axis into pieces of the given sizes (ONNX Split).
func Split(x *Tensor, axis int, sizes ...int) []*Tensor {
	axis = normAxis(axis, x.Rank())
	var out []*Tensor
	start := 0
	for _, s := range sizes {
		out = append(out, Slice(x, []int{start}, []int{start + s}, []int{axis}, nil))
		start += s
	}
	return out
}

// Slice takes x[starts:ends:steps] along axes (ONNX Slice): negative starts
// and ends count from the end, then starts and ends are clamped to [0, d]
// for positive steps and to [0, d−1] and [−1, d−1] for negative ones (so,
// unlike numpy, a start before the front with a negative step still picks
// element 0). axes nil means 0, 1, …; steps nil means 1.
func Slice(x *Tensor, starts, ends, axes, steps []int) *Tensor {
	pick := make([][]int, x.Rank())
	for a, d := range x.Shape {
		for i := range d {
			pick[a] = append(pick[a], i)
		}
	}
	for k := range starts {
		a, step := k, 1
		if axes != nil {
			a = normAxis(axes[k], x.Rank())
		}
		if steps != nil {
			step = steps[k]
		}
		d, start, end := x.Shape[a], starts[k], ends[k]
		if start < 0 {
			start += d
		}
		if end < 0 {
			end += d
		}
		pick[a] = nil
		if step > 0 {
			start, end = min(max(start, 0), d), min(max(end, 0), d)
			for i := start; i < end; i += step {
				pick[a] = append(pick[a], i)
			}
		} else {
			start, end = min(max(start, 0), d-1), min(max(end, -1), d-1)
			for i := start; i > end; i += step {
				pick[a] = append(pick[a], i)
			}
		}
	}
	shape := make([]int, x.Rank())
	for a := range pick {
		shape[a] = len(pick[a])
	}
	out := New(shape...)
	src := make([]int, x.Rank())
	for off := range out.Data {
		for a, i := range out.Index(off) {
			src[a] = pick[a][i]
		}
		out.Data[off] = x.At(src...)
	}
	return out
}

// index returns the integer index v along a dimension of size d, with
// negative values counting from the end; it panics when out of range.
func index(v float64, d int) int {
	i := int(v)
	if float64(i) != v || i < -d || i >= d {
		panic(fmt.Sprintf("reference: index %v out of range for a dimension of %d", v, d))
	}
	if i < 0 {
		i += d
	}
	return i
}

// Gather takes the slices of x at indices along axis (ONNX Gather): the
// output shape is x.Shape[:axis] + indices.Shape + x.Shape[axis+1:].
func Gather(x, indices *Tensor, axis int) *Tensor {
	axis = normAxis(axis, x.Rank())
	r := indices.Rank()
	out := New(slices.Concat(x.Shape[:axis], indices.Shape, x.Shape[axis+1:])...)
	for off := range out.Data {
		idx := out.Index(off)
		k := index(indices.At(idx[axis:axis+r]...), x.Shape[axis])
		src := slices.Concat(idx[:axis], []int{k}, idx[axis+r:])
		out.Data[off] = x.At(src...)
	}
	return out
}

// GatherElements returns out with the shape of indices and
// out[…, i_axis, …] = x[…, indices[…, i_axis, …], …] (ONNX GatherElements).
func GatherElements(x, indices *Tensor, axis int) *Tensor {
	axis = normAxis(axis, x.Rank())
	out := New(indices.Shape...)
	for off, v := range indices.Data {
		idx := out.Index(off)
		idx[axis] = index(v, x.Shape[axis])
		out.Data[off] = x.At(idx...)
	}
	return out
}

// ScatterElements returns a copy of data where, for every position p of
// indices, the element at p with coordinate axis replaced by indices[p] is
// set to updates[p] (reduction "none"), or has updates[p] added ("add") or
// multiplied in ("mul") (ONNX ScatterElements).
func ScatterElements(data, indices, updates *Tensor, axis int, reduction string) *Tensor {
	axis = normAxis(axis, data.Rank())
	out := data.Clone()
	for off, v := range indices.Data {
		idx := indices.Index(off)
		idx[axis] = index(v, data.Shape[axis])
		o := out.Offset(idx...)
		switch reduction {
		case "none":
			out.Data[o] = updates.Data[off]
		case "add":
			out.Data[o] += updates.Data[off]
		case "mul":
			out.Data[o] *= updates.Data[off]
		default:
			panic(fmt.Sprintf("reference: ScatterElements reduction %q", reduction))
		}
	}
	return out
}

// Pad pads x by pads = [x1_begin, x2_begin, …, x1_end, x2_end, …] (negative
// values crop) in mode "constant" (with value), "reflect" (mirror without
// repeating the edge) or "edge" (repeat the edge) (ONNX Pad).
func Pad(x *Tensor, pads []int, mode string, value float64) *Tensor {
	r := x.Rank()
	shape := make([]int, r)
	for a, d := range x.Shape {
		shape[a] = d + pads[a] + pads[a+r]
	}
	out := New(shape...)
	src := make([]int, r)
	for off := range out.Data {
		inside := true
		for a, i := range out.Index(off) {
			d, j := x.Shape[a], i-pads[a]
			switch mode {
			case "constant":
				inside = inside && j >= 0 && j < d
			case "edge":
				j = min(max(j, 0), d-1)
			case "reflect":
				for d > 1 && (j < 0 || j >= d) {
					if j < 0 {
						j = -j
					}
					if j >= d {
						j = 2*(d-1) - j
					}
				}
				if d == 1 {
					j = 0
				}
			default:
				panic(fmt.Sprintf("reference: Pad mode %q", mode))
			}
			src[a] = j
		}
		if inside {
			out.Data[off] = x.At(src...)
		} else {
			out.Data[off] = value
		}
	}
	return out
}

// Tile repeats x repeats[a] times along every axis a (ONNX Tile).
func Tile(x *Tensor, repeats ...int) *Tensor {
	shape := slices.Clone(x.Shape)
	for a := range shape {
		shape[a] *= repeats[a]
	}
	out := New(shape...)
	src := make([]int, x.Rank())
	for off := range out.Data {
		for a, i := range out.Index(off) {
			src[a] = i % x.Shape[a]
		}
		out.Data[off] = x.At(src...)
	}
	return out
}

// OneHot returns indices.Shape + [depth] holding on at each index (negative
// indices count from depth) and off elsewhere; an index outside
// [−depth, depth−1] gives an all-off vector (ONNX OneHot with axis −1).
func OneHot(indices *Tensor, depth int, off, on float64) *Tensor {
	out := New(append(slices.Clone(indices.Shape), depth)...)
	for p, v := range indices.Data {
		k := int(v)
		if k < 0 {
			k += depth
		}
		for j := range depth {
			val := off
			if j == k {
				val = on
			}
			out.Data[p*depth+j] = val
		}
	}
	return out
}

// Col2Im sums column blocks x [N, C·kH·kW, L] into images [N, C, H, W]
// (ONNX Col2Im, the adjoint of im2col): block l = (bi, bj) in row-major
// order over the Lh × Lw block positions adds x[n, (c·kH + p)·kW + q, l] at
// image position (bi·sH − padT + p·dH, bj·sW − padL + q·dW) when in range.
func Col2Im(x *Tensor, imageShape, block []int, p ConvParams) *Tensor {
	p = p.norm()
	h, w, kh, kw := imageShape[0], imageShape[1], block[0], block[1]
	lh := (h+p.Pads[0]+p.Pads[2]-p.Dilations[0]*(kh-1)-1)/p.Strides[0] + 1
	lw := (w+p.Pads[1]+p.Pads[3]-p.Dilations[1]*(kw-1)-1)/p.Strides[1] + 1
	n, c := x.Shape[0], x.Shape[1]/(kh*kw)
	if x.Shape[1] != c*kh*kw || x.Shape[2] != lh*lw {
		panic(fmt.Sprintf("reference: Col2Im input %v for image %v and block %v", x.Shape, imageShape, block))
	}
	y := New(n, c, h, w)
	for b := range n {
		for ch := range c {
			for ki := range kh {
				for kj := range kw {
					for bi := range lh {
						for bj := range lw {
							i := bi*p.Strides[0] - p.Pads[0] + ki*p.Dilations[0]
							j := bj*p.Strides[1] - p.Pads[1] + kj*p.Dilations[1]
							if i < 0 || i >= h || j < 0 || j >= w {
								continue
							}
							o := y.Offset(b, ch, i, j)
							y.Data[o] += x.At(b, (ch*kh+ki)*kw+kj, bi*lw+bj)
						}
					}
				}
			}
		}
	}
	return y
}
