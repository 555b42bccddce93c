package graphs

import (
	"slices"

	"github.com/taet-ml/taet/onnx"
)

func init() {
	registerOps(map[string]int{ // op_type: the version emitted (since_version at the model opset)
		"Reshape": 14, "Transpose": 13, "Flatten": 13, "Squeeze": 13, "Unsqueeze": 13,
		"Concat": 13, "Slice": 13, "Split": 13, "Gather": 13, "GatherElements": 13,
		"ScatterElements": 16, "Expand": 13, "Tile": 13, "Pad": 13, "OneHot": 11, "Shape": 15,
	})
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
	if onnx.Numel(out) != x.Size() {
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
	out := []int64{onnx.Numel(x.shape[:axis]), onnx.Numel(x.shape[axis:])}
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

func init() {
	registerGrad("Reshape", gradReshape)
	registerGrad("Flatten", gradReshape)
	registerGrad("Squeeze", gradReshape)
	registerGrad("Unsqueeze", gradReshape)
	registerGrad("Transpose", gradTranspose)
	registerGrad("Concat", gradConcat)
	registerGrad("Split", gradSplit)
	registerGrad("Slice", gradSlice)
	registerGrad("Gather", gradGather)
	registerGrad("GatherElements", gradGatherElements)
	registerGrad("ScatterElements", gradScatterElements)
	registerGrad("Expand", gradExpand)
	registerGrad("Tile", gradTile)
	registerGrad("Pad", gradPad)
	registerNoGrad("Shape")
	// OneHot's values input is float, but no rule is written: the
	// constructor makes it a constant, so no gradient ever needs it.
	registerNotDifferentiable("OneHot")
}

// gradReshape (also Flatten, Squeeze, Unsqueeze): reshape the gradient back.
func gradReshape(n *Node, gy []*Value) []*Value {
	out := make([]*Value, len(n.inputs))
	out[0] = Reshape(gy[0], n.Input(0).shape...)
	return out
}

// gradTranspose: transpose the gradient by the inverse permutation.
func gradTranspose(n *Node, gy []*Value) []*Value {
	perm := n.AttrInts("perm")
	inv := make([]int64, len(perm))
	for i, p := range perm {
		inv[p] = int64(i)
	}
	return []*Value{Transpose(gy[0], inv...)}
}

// gradConcat: split the gradient back into the inputs' pieces.
func gradConcat(n *Node, gy []*Value) []*Value {
	axis := n.AttrInt("axis", 0)
	sizes := make([]int64, len(n.inputs))
	for i, in := range n.inputs {
		sizes[i] = in.shape[axis]
	}
	if len(sizes) == 1 {
		return []*Value{gy[0]}
	}
	return Split(gy[0], axis, sizes...)
}

// gradSplit: concatenate the pieces' gradients (zeros for pieces off the path).
func gradSplit(n *Node, gy []*Value) []*Value {
	parts := make([]*Value, len(gy))
	for i, g := range gy {
		if g == nil {
			g = zerosLike(n.Output(i))
		}
		parts[i] = g
	}
	return []*Value{Concat(n.AttrInt("axis", 0), parts...), nil}
}

// gradSlice: place the gradient back at the sliced positions, zeros
// elsewhere. Along each sliced axis, a step s > 1 spreads the gradient by
// interleaving s−1 zeros, a negative step reverses it first, and a Pad with
// possibly negative amounts (a crop) puts it at its offset.
func gradSlice(n *Node, gy []*Value) []*Value {
	x, g := n.Input(0), gy[0]
	starts, ends, axes, steps := constInts(n.Input(1)), constInts(n.Input(2)), constInts(n.Input(3)), constInts(n.Input(4))
	for i, a := range axes {
		a = (a + int64(x.Rank())) % int64(x.Rank())
		d, st := x.shape[a], steps[i]
		length := sliceLen(d, starts[i], ends[i], st)
		first := sliceFirst(d, starts[i], st)
		if st < 0 { // reverse: the elements sit at first, first+st, …; ascending from last
			g = Slice(g, []int64{-1}, []int64{-length - 1}, []int64{a}, []int64{-1})
			first += (length - 1) * st
			st = -st
		}
		if st > 1 { // [.., L, ..] → [.., L, st, ..] with zeros → [.., L·st, ..]
			sh := slices.Clone(g.shape)
			g = Unsqueeze(g, a+1)
			pads := make([]int64, 2*g.Rank())
			pads[g.Rank()+int(a)+1] = st - 1
			g = Pad(g, pads, "constant", 0)
			sh[a] *= st
			g = Reshape(g, sh...)
		}
		pads := make([]int64, 2*g.Rank())
		pads[a] = first
		pads[g.Rank()+int(a)] = d - first - g.shape[a]
		g = Pad(g, pads, "constant", 0)
	}
	return []*Value{g, nil, nil, nil, nil}
}

// sliceFirst returns the index of the first element start:…:step takes
// from a dimension of size d (ONNX Slice clamping).
func sliceFirst(d, start, step int64) int64 {
	if start < 0 {
		start += d
	}
	if step > 0 {
		return min(max(start, 0), d)
	}
	return min(max(start, 0), d-1)
}

// gradGather: scatter-add the gradient back to the gathered rows.
func gradGather(n *Node, gy []*Value) []*Value {
	x, idx, g := n.Input(0), n.Input(1), gy[0]
	a := n.AttrInt("axis", 0)
	// Flatten the index axes of g into one: [pre, K, post], K = onnx.Numel(idx).
	k := idx.Size()
	flat := slices.Concat(x.shape[:a], []int64{k}, x.shape[a+1:])
	g = Reshape(g, flat...)
	ishape := make([]int64, len(flat))
	for i := range ishape {
		ishape[i] = 1
	}
	ishape[a] = k
	full := Expand(Reshape(idx, ishape...), flat...)
	return []*Value{ScatterElements(zerosLike(x), full, g, a, "add"), nil}
}

// gradGatherElements: scatter-add the gradient back to the picked elements.
func gradGatherElements(n *Node, gy []*Value) []*Value {
	x, idx := n.Input(0), n.Input(1)
	return []*Value{ScatterElements(zerosLike(x), idx, gy[0], n.AttrInt("axis", 0), "add"), nil}
}

// gradScatterElements: the data's gradient is the output's, with zeros where
// updates were written ("none"; unchanged for "add"); the updates' gradient
// is gathered from the written positions.
func gradScatterElements(n *Node, gy []*Value) []*Value {
	idx, upd, g := n.Input(1), n.Input(2), gy[0]
	a := n.AttrInt("axis", 0)
	red := n.AttrString("reduction", "none")
	if red == "mul" {
		panic(&BuildError{Node: n.name, Op: n.op, Err: errorf("no gradient for reduction mul")})
	}
	return []*Value{
		n.IfNeeded(0, func() *Value {
			if red == "add" {
				return g
			}
			return ScatterElements(g, idx, zerosLike(upd), a, "none")
		}),
		nil,
		n.IfNeeded(2, func() *Value { return GatherElements(g, idx, a) }),
	}
}

// gradExpand: sum the gradient over the broadcast axes.
func gradExpand(n *Node, gy []*Value) []*Value {
	return []*Value{Unbroadcast(gy[0], n.Input(0).shape), nil}
}

// gradTile: sum the gradient over the copies: view [.., r_i, d_i, ..] and reduce the r_i axes.
func gradTile(n *Node, gy []*Value) []*Value {
	x := n.Input(0)
	reps := constInts(n.Input(1))
	var split []int64
	var axes []int64
	for i, d := range x.shape {
		axes = append(axes, int64(2*i))
		split = append(split, reps[i], d)
	}
	return []*Value{Reshape(ReduceSum(Reshape(gy[0], split...), axes, false), x.shape...), nil}
}

// gradPad: crop the gradient by the padding (a Pad by the negated amounts;
// a negative pad, a crop, becomes zero padding). Only constant mode.
func gradPad(n *Node, gy []*Value) []*Value {
	if mode := n.AttrString("mode", "constant"); mode != "constant" {
		panic(&BuildError{Node: n.name, Op: n.op, Err: errorf("no gradient for Pad mode %q", mode)})
	}
	pads := constInts(n.Input(1))
	neg := make([]int64, len(pads))
	for i, p := range pads {
		neg[i] = -p
	}
	return []*Value{Pad(gy[0], neg, "constant", 0), nil, nil}
}
