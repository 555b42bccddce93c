package graphs

import (
	"encoding/binary"
	"slices"

	"github.com/taet-ml/taet/onnx"
)

func init() {
	registerOps(map[string]int{ // op_type: the version emitted (since_version at the model opset)
		"ReduceSum": 13, "ReduceMean": 13, "ReduceMax": 13, "ArgMax": 13,
	})
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

func init() {
	registerGrad("ReduceSum", gradReduceSum)
	registerGrad("ReduceMean", gradReduceMean)
	registerGrad("ReduceMax", gradReduceMax)
	registerNoGrad("ArgMax")
}

// reduceAxes returns the (sorted, non-negative) axes a reduce node reduced
// and the shape of its output with those axes kept as size 1.
func reduceAxes(n *Node) (axes, kept []int64) {
	x := n.Input(0)
	if n.op == "ReduceSum" {
		axes = constInts(n.Input(1))
	} else {
		axes = n.AttrInts("axes")
	}
	return axes, reducedShape(x.shape, axes, true)
}

// constInts returns the data of an int64 Constant node's output.
func constInts(v *Value) []int64 {
	t := v.node.Attr("value").GetT()
	raw := t.GetRawData()
	out := make([]int64, len(raw)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return out
}

// gradReduceSum: each input element receives the gradient of its sum.
func gradReduceSum(n *Node, gy []*Value) []*Value {
	x := n.Input(0)
	_, kept := reduceAxes(n)
	return []*Value{Expand(Reshape(gy[0], kept...), x.shape...), nil}
}

// gradReduceMean: each input element receives 1/count of its mean's gradient.
func gradReduceMean(n *Node, gy []*Value) []*Value {
	x := n.Input(0)
	axes, kept := reduceAxes(n)
	count := int64(1)
	for _, a := range axes {
		count *= x.shape[a]
	}
	g := Mul(Reshape(gy[0], kept...), n.b.Scalar(1/float32(count)))
	return []*Value{Expand(g, x.shape...)}
}

// gradReduceMax: the gradient goes to the maximal elements, split evenly
// among ties (unlike Max and MaxPool, where the first maximal element takes
// it all; a reduction over several axes has no cheap "first").
func gradReduceMax(n *Node, gy []*Value) []*Value {
	x := n.Input(0)
	axes, kept := reduceAxes(n)
	isMax := Cast(Equal(x, Reshape(n.Output(0), kept...)), onnx.Float)
	share := Div(isMax, ReduceSum(isMax, axes, true))
	return []*Value{Mul(share, Reshape(gy[0], kept...))}
}
