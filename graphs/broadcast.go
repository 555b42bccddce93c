package graphs

import "slices"

// broadcast returns the ONNX multidirectional (numpy) broadcast of shapes a
// and b, panicking with a *BuildError for op if they are incompatible.
func (bd *Builder) broadcast(op string, a, b []int64) []int64 {
	out, ok := broadcastShapes(a, b)
	if !ok {
		bd.fail(op, "shapes %v and %v do not broadcast", a, b)
	}
	return out
}

// broadcastShapes aligns a and b at their last dimensions; each pair of
// dimensions must be equal or contain a 1.
func broadcastShapes(a, b []int64) ([]int64, bool) {
	n := max(len(a), len(b))
	out := make([]int64, n)
	for i := range n {
		da, db := dimFromEnd(a, n-1-i), dimFromEnd(b, n-1-i)
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, false
		}
	}
	return out, true
}

// dimFromEnd returns shape[len(shape)-1-k], or 1 past the front.
func dimFromEnd(shape []int64, k int) int64 {
	if k >= len(shape) {
		return 1
	}
	return shape[len(shape)-1-k]
}

// Unbroadcast sums g (the gradient of a broadcast result) down to shape, the
// shape of the operand before broadcasting: leading extra axes and axes where
// shape has 1 but g does not are summed away. It returns g itself when the
// shapes already agree.
func Unbroadcast(g *Value, shape []int64) *Value {
	if slices.Equal(g.shape, shape) {
		return g
	}
	lead := len(g.shape) - len(shape)
	var axes []int64
	for i := range g.shape {
		if i < lead || (shape[i-lead] == 1 && g.shape[i] != 1) {
			axes = append(axes, int64(i))
		}
	}
	s := g
	if len(axes) > 0 {
		s = ReduceSum(g, axes, true)
	}
	return Reshape(s, shape...)
}
