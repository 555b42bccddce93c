package graphs

import (
	"slices"

	"github.com/taet-ml/taet/onnx"
)

func init() {
	registerOps("Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Concat", "Slice", "Split",
		"Gather", "GatherElements", "ScatterElements", "Expand", "Tile", "Pad", "OneHot", "Shape")
}

// axis returns a normalised for a rank-r tensor, panicking for op when out of range.
func (b *Builder) axis(op string, a int64, r int) int64 {
	if a < -int64(r) || a >= int64(r) {
		b.fail(op, "axis %d out of range for rank %d", a, r)
	}
	return (a + int64(r)) % int64(r)
}

// Reshape returns x with a new shape of the same size (ONNX Reshape-14). A 0
// copies the input's dimension, one -1 is inferred. The node gets the
// resolved shape, so the graph does not depend on those conventions.
func Reshape(x *Value, shape ...int64) *Value {
	b := x.b
	out := slices.Clone(shape)
	infer := -1
	known := int64(1)
	for i, d := range out {
		switch {
		case d == 0 && i < x.Rank():
			out[i] = x.shape[i]
		case d == -1 && infer < 0:
			infer = i
			continue
		case d <= 0:
			b.fail("Reshape", "bad target dimension %d in %v for %s", d, shape, x)
		}
		known *= out[i]
	}
	if infer >= 0 {
		if known == 0 || x.Size()%known != 0 {
			b.fail("Reshape", "cannot infer -1 in %v for %s", shape, x)
		}
		out[infer] = x.Size() / known
	}
	if numel(out) != x.Size() {
		b.fail("Reshape", "cannot reshape %s to %v", x, shape)
	}
	return b.add1("Reshape", []*Value{x, b.ints(out)}, nil, outSpec{x.dtype, out})
}

// Transpose permutes the axes of x: output axis i is input axis perm[i]
// (ONNX Transpose-13). An empty perm reverses the axes.
func Transpose(x *Value, perm ...int64) *Value {
	b := x.b
	r := x.Rank()
	if len(perm) == 0 {
		for i := r - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	if len(perm) != r {
		b.fail("Transpose", "perm %v for %s", perm, x)
	}
	seen := make([]bool, r)
	out := make([]int64, r)
	for i, p := range perm {
		if p < 0 || p >= int64(r) || seen[p] {
			b.fail("Transpose", "perm %v is not a permutation of 0..%d", perm, r-1)
		}
		seen[p] = true
		out[i] = x.shape[p]
	}
	return b.add1("Transpose", []*Value{x}, []attr{attrInts("perm", perm)}, outSpec{x.dtype, out})
}

// Flatten reshapes x to 2-D: [d0·…·d(axis-1), d(axis)·…] (ONNX Flatten-13).
func Flatten(x *Value, axis int64) *Value {
	b := x.b
	if axis < 0 {
		axis += int64(x.Rank())
	}
	if axis < 0 || axis > int64(x.Rank()) {
		b.fail("Flatten", "axis %d out of range for %s", axis, x)
	}
	out := []int64{numel(x.shape[:axis]), numel(x.shape[axis:])}
	return b.add1("Flatten", []*Value{x}, []attr{attrInt("axis", axis)}, outSpec{x.dtype, out})
}

// Squeeze removes the size-1 axes listed (ONNX Squeeze-13, axes as an input).
func Squeeze(x *Value, axes ...int64) *Value {
	b := x.b
	ax := b.normAxes("Squeeze", x, axes)
	for _, a := range ax {
		if x.shape[a] != 1 {
			b.fail("Squeeze", "axis %d of %s is not 1", a, x)
		}
	}
	return b.add1("Squeeze", []*Value{x, b.ints(ax)}, nil, outSpec{x.dtype, reducedShape(x.shape, ax, false)})
}

// Unsqueeze inserts size-1 axes at the listed positions of the output
// (ONNX Unsqueeze-13, axes as an input).
func Unsqueeze(x *Value, axes ...int64) *Value {
	b := x.b
	r := x.Rank() + len(axes)
	ax := make([]int64, len(axes))
	for i, a := range axes {
		ax[i] = b.axis("Unsqueeze", a, r)
	}
	slices.Sort(ax)
	if len(slices.Compact(slices.Clone(ax))) != len(ax) {
		b.fail("Unsqueeze", "repeated axis in %v", axes)
	}
	out := make([]int64, 0, r)
	src := 0
	for i := range r {
		if slices.Contains(ax, int64(i)) {
			out = append(out, 1)
		} else {
			out = append(out, x.shape[src])
			src++
		}
	}
	return b.add1("Unsqueeze", []*Value{x, b.ints(ax)}, nil, outSpec{x.dtype, out})
}

// Concat joins xs along axis; other dimensions must agree (ONNX Concat-13).
func Concat(axis int64, xs ...*Value) *Value {
	if len(xs) == 0 {
		panic(&BuildError{Op: "Concat", Err: errorf("no inputs")})
	}
	b := xs[0].b
	b.sameDType("Concat", xs...)
	a := b.axis("Concat", axis, xs[0].Rank())
	out := slices.Clone(xs[0].shape)
	for _, x := range xs[1:] {
		if x.Rank() != len(out) {
			b.fail("Concat", "ranks differ: %s and %s", xs[0], x)
		}
		for i, d := range x.shape {
			if int64(i) != a && d != out[i] {
				b.fail("Concat", "dimension %d differs: %s and %s", i, xs[0], x)
			}
		}
		out[a] += x.shape[a]
	}
	return b.add1("Concat", xs, []attr{attrInt("axis", a)}, outSpec{xs[0].dtype, out})
}

// Slice takes x[starts:ends:steps] along axes (ONNX Slice-13, with numpy
// clamping; negative indices count from the end). axes nil means 0..len-1,
// steps nil means 1.
func Slice(x *Value, starts, ends, axes, steps []int64) *Value {
	b := x.b
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	if steps == nil {
		steps = slices.Repeat([]int64{1}, len(starts))
	}
	if len(ends) != len(starts) || len(axes) != len(starts) || len(steps) != len(starts) {
		b.fail("Slice", "starts %v, ends %v, axes %v, steps %v differ in length", starts, ends, axes, steps)
	}
	out := slices.Clone(x.shape)
	for i, a := range axes {
		a = b.axis("Slice", a, x.Rank())
		if steps[i] == 0 {
			b.fail("Slice", "step 0 on axis %d", a)
		}
		out[a] = sliceLen(x.shape[a], starts[i], ends[i], steps[i])
		if out[a] == 0 {
			b.fail("Slice", "empty slice %d:%d:%d of axis %d of %s", starts[i], ends[i], steps[i], a, x)
		}
	}
	inputs := []*Value{x, b.ints(starts), b.ints(ends), b.ints(axes), b.ints(steps)}
	return b.add1("Slice", inputs, nil, outSpec{x.dtype, out})
}

// sliceLen returns the length of start:end:step on a dimension of size d,
// clamped as ONNX Slice (and numpy) do.
func sliceLen(d, start, end, step int64) int64 {
	clamp := func(v, lo, hi int64) int64 { return min(max(v, lo), hi) }
	if start < 0 {
		start += d
	}
	if end < 0 {
		end += d
	}
	if step > 0 {
		start, end = clamp(start, 0, d), clamp(end, 0, d)
		return max(0, (end-start+step-1)/step)
	}
	start, end = clamp(start, 0, d-1), clamp(end, -1, d-1)
	return max(0, (start-end-step-1)/(-step))
}

// Split cuts x along axis into pieces of the given sizes, which must add up
// to the axis length (ONNX Split-13, split as an input).
func Split(x *Value, axis int64, sizes ...int64) []*Value {
	b := x.b
	a := b.axis("Split", axis, x.Rank())
	var total int64
	outs := make([]outSpec, len(sizes))
	for i, s := range sizes {
		if s <= 0 {
			b.fail("Split", "size %d must be positive", s)
		}
		total += s
		sh := slices.Clone(x.shape)
		sh[a] = s
		outs[i] = outSpec{x.dtype, sh}
	}
	if total != x.shape[a] {
		b.fail("Split", "sizes %v add up to %d, axis %d of %s has %d", sizes, total, a, x, x.shape[a])
	}
	return b.addNode("Split", []*Value{x, b.ints(sizes)}, []attr{attrInt("axis", a)}, outs...)
}

// Gather takes the slices of x at int64 indices along axis: the output shape
// is x.shape[:axis] + indices.shape + x.shape[axis+1:] (ONNX Gather-13).
func Gather(x, indices *Value, axis int64) *Value {
	b := x.b
	if indices.dtype != onnx.Int64 {
		b.fail("Gather", "indices %s must be int64", indices)
	}
	a := b.axis("Gather", axis, x.Rank())
	out := slices.Concat(x.shape[:a], indices.shape, x.shape[a+1:])
	return b.add1("Gather", []*Value{x, indices}, []attr{attrInt("axis", a)}, outSpec{x.dtype, out})
}

// GatherElements picks x elements along axis at int64 indices of the same
// rank: out[i][j] = x[indices[i][j]][j] for axis 0 (ONNX GatherElements-13).
func GatherElements(x, indices *Value, axis int64) *Value {
	b := x.b
	if indices.dtype != onnx.Int64 || indices.Rank() != x.Rank() {
		b.fail("GatherElements", "indices %s must be int64 with the rank of %s", indices, x)
	}
	a := b.axis("GatherElements", axis, x.Rank())
	for i, d := range indices.shape {
		if int64(i) != a && d > x.shape[i] {
			b.fail("GatherElements", "indices %s exceed %s off axis %d", indices, x, a)
		}
	}
	return b.add1("GatherElements", []*Value{x, indices}, []attr{attrInt("axis", a)}, outSpec{x.dtype, indices.shape})
}

// ScatterElements returns a copy of data with updates written (reduction
// "none") or added ("add") at int64 indices along axis:
// out[indices[i][j]][j] = updates[i][j] for axis 0 (ONNX ScatterElements-16).
func ScatterElements(data, indices, updates *Value, axis int64, reduction string) *Value {
	b := data.b
	if indices.dtype != onnx.Int64 || !slices.Equal(indices.shape, updates.shape) || indices.Rank() != data.Rank() {
		b.fail("ScatterElements", "indices %s and updates %s must share a shape of the rank of %s", indices, updates, data)
	}
	if reduction != "none" && reduction != "add" && reduction != "mul" {
		b.fail("ScatterElements", "reduction %q: want none, add or mul", reduction)
	}
	b.sameDType("ScatterElements", data, updates)
	a := b.axis("ScatterElements", axis, data.Rank())
	return b.add1("ScatterElements", []*Value{data, indices, updates},
		[]attr{attrInt("axis", a), attrString("reduction", reduction)}, outSpec{data.dtype, data.shape})
}

// Expand broadcasts x to shape (ONNX Expand-13); the result has the
// broadcast of x's shape and shape.
func Expand(x *Value, shape ...int64) *Value {
	b := x.b
	out := b.broadcast("Expand", x.shape, shape)
	return b.add1("Expand", []*Value{x, b.ints(shape)}, nil, outSpec{x.dtype, out})
}

// Tile repeats x repeats[i] times along axis i (ONNX Tile-13).
func Tile(x *Value, repeats ...int64) *Value {
	b := x.b
	if len(repeats) != x.Rank() {
		b.fail("Tile", "%d repeats for %s", len(repeats), x)
	}
	out := slices.Clone(x.shape)
	for i, r := range repeats {
		if r <= 0 {
			b.fail("Tile", "repeat %d must be positive", r)
		}
		out[i] *= r
	}
	return b.add1("Tile", []*Value{x, b.ints(repeats)}, nil, outSpec{x.dtype, out})
}

// Pad pads x with pads = [x1_begin, x2_begin, …, x1_end, x2_end, …] in mode
// "constant" (with value), "reflect" or "edge" (ONNX Pad-13). Negative pads crop.
func Pad(x *Value, pads []int64, mode string, value float32) *Value {
	b := x.b
	r := x.Rank()
	if len(pads) != 2*r {
		b.fail("Pad", "%d pads for %s, want %d", len(pads), x, 2*r)
	}
	if mode != "constant" && mode != "reflect" && mode != "edge" {
		b.fail("Pad", "mode %q: want constant, reflect or edge", mode)
	}
	out := slices.Clone(x.shape)
	for i := range r {
		out[i] += pads[i] + pads[i+r]
		if out[i] <= 0 {
			b.fail("Pad", "pads %v leave axis %d of %s empty", pads, i, x)
		}
	}
	b.requireFloat("Pad", x)
	inputs := []*Value{x, b.ints(pads), b.Scalar(value)}
	return b.add1("Pad", inputs, []attr{attrString("mode", mode)}, outSpec{x.dtype, out})
}

// OneHot returns float32 one-hot vectors of int64 indices: a new last axis of
// size depth holding on at the index and off elsewhere (ONNX OneHot-11, axis -1).
func OneHot(indices *Value, depth int64, off, on float32) *Value {
	b := indices.b
	if indices.dtype != onnx.Int64 {
		b.fail("OneHot", "indices %s must be int64", indices)
	}
	if depth <= 0 {
		b.fail("OneHot", "depth %d must be positive", depth)
	}
	values := b.Constant([]int64{2}, []float32{off, on})
	d := b.ConstantInt64(nil, []int64{depth})
	out := append(slices.Clone(indices.shape), depth)
	return b.add1("OneHot", []*Value{indices, d, values}, []attr{attrInt("axis", -1)}, outSpec{onnx.Float, out})
}

// Shape returns the shape of x as a 1-D int64 tensor (ONNX Shape-15).
func Shape(x *Value) *Value {
	return x.b.add1("Shape", []*Value{x}, nil, outSpec{onnx.Int64, []int64{int64(x.Rank())}})
}
