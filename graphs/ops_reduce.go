package graphs

import (
	"slices"

	"github.com/taet-ml/taet/onnx"
)

func init() {
	registerOps("ReduceSum", "ReduceMean", "ReduceMax", "ArgMax")
}

// normAxes returns axes made non-negative and sorted, all axes when axes is
// empty, panicking for op on an axis out of range or repeated.
func (b *Builder) normAxes(op string, x *Value, axes []int64) []int64 {
	r := int64(x.Rank())
	if len(axes) == 0 {
		out := make([]int64, r)
		for i := range out {
			out[i] = int64(i)
		}
		return out
	}
	out := make([]int64, len(axes))
	for i, a := range axes {
		if a < -r || a >= r {
			b.fail(op, "axis %d out of range for %s", a, x)
		}
		out[i] = (a + r) % r
	}
	slices.Sort(out)
	if len(slices.Compact(slices.Clone(out))) != len(out) {
		b.fail(op, "repeated axis in %v", axes)
	}
	return out
}

// reducedShape returns shape with axes (sorted, non-negative) removed, or
// set to 1 with keepdims.
func reducedShape(shape, axes []int64, keepdims bool) []int64 {
	var out []int64
	for i, d := range shape {
		if slices.Contains(axes, int64(i)) {
			if keepdims {
				out = append(out, 1)
			}
			continue
		}
		out = append(out, d)
	}
	return out
}

func keep(keepdims bool) int64 {
	if keepdims {
		return 1
	}
	return 0
}

// ReduceSum sums x over axes (all axes when empty), keeping them as size 1
// with keepdims (ONNX ReduceSum-13, axes as an input).
func ReduceSum(x *Value, axes []int64, keepdims bool) *Value {
	b := x.b
	ax := b.normAxes("ReduceSum", x, axes)
	return b.add1("ReduceSum", []*Value{x, b.ints(ax)}, []attr{attrInt("keepdims", keep(keepdims))},
		outSpec{x.dtype, reducedShape(x.shape, ax, keepdims)})
}

// ReduceMean averages x over axes (all axes when empty), keeping them as size
// 1 with keepdims (ONNX ReduceMean-13; axes become an input at opset 18).
func ReduceMean(x *Value, axes []int64, keepdims bool) *Value {
	return x.b.reduceAttr("ReduceMean", x, axes, keepdims)
}

// ReduceMax takes the maximum of x over axes (all axes when empty), keeping
// them as size 1 with keepdims (ONNX ReduceMax-13; axes become an input at opset 18).
func ReduceMax(x *Value, axes []int64, keepdims bool) *Value {
	return x.b.reduceAttr("ReduceMax", x, axes, keepdims)
}

func (b *Builder) reduceAttr(op string, x *Value, axes []int64, keepdims bool) *Value {
	ax := b.normAxes(op, x, axes)
	return b.add1(op, []*Value{x}, []attr{attrInts("axes", ax), attrInt("keepdims", keep(keepdims))},
		outSpec{x.dtype, reducedShape(x.shape, ax, keepdims)})
}

// ArgMax returns the int64 index of the first maximum of x along axis
// (ONNX ArgMax-13, select_last_index 0).
func ArgMax(x *Value, axis int64, keepdims bool) *Value {
	b := x.b
	ax := b.normAxes("ArgMax", x, []int64{axis})
	return b.add1("ArgMax", []*Value{x}, []attr{attrInt("axis", ax[0]), attrInt("keepdims", keep(keepdims))},
		outSpec{onnx.Int64, reducedShape(x.shape, ax, keepdims)})
}
