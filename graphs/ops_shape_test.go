package graphs_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/reference"
	"github.com/taet-ml/taet/onnx"
)

// unaryCase is an opCase with one float32 input of the given shape.
func unaryCase(name string, shape []int64, f func(x *graphs.Value) *graphs.Value, ref func(x *reference.Tensor) *reference.Tensor) opCase {
	return opCase{
		name:  name,
		args:  []arg{f32("x", shape...)},
		build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(f(in[0])) },
		ref:   func(in []*reference.Tensor) []*reference.Tensor { return ref1(ref(in[0])) },
	}
}

// reshapeTo is the reference of every op that only changes the shape.
func reshapeTo(shape ...int) func(x *reference.Tensor) *reference.Tensor {
	return func(x *reference.Tensor) *reference.Tensor { return reference.Reshape(x, shape...) }
}

func TestReshapeFamily(t *testing.T) {
	s := []int64{2, 3, 4}
	runCases(t, []opCase{
		unaryCase("Reshape/explicit", s, func(x *graphs.Value) *graphs.Value { return graphs.Reshape(x, 4, 6) }, reshapeTo(4, 6)),
		unaryCase("Reshape/minus1", s, func(x *graphs.Value) *graphs.Value { return graphs.Reshape(x, 4, -1) }, reshapeTo(4, 6)),
		unaryCase("Reshape/flat", s, func(x *graphs.Value) *graphs.Value { return graphs.Reshape(x, -1) }, reshapeTo(24)),
		unaryCase("Reshape/zero", s, func(x *graphs.Value) *graphs.Value { return graphs.Reshape(x, 0, -1) }, reshapeTo(2, 12)),
		unaryCase("Reshape/zeros", s, func(x *graphs.Value) *graphs.Value { return graphs.Reshape(x, 0, 0, 2, 2) }, reshapeTo(2, 3, 2, 2)),
		unaryCase("Reshape/zeroMinus1", s, func(x *graphs.Value) *graphs.Value { return graphs.Reshape(x, 0, -1, 2) }, reshapeTo(2, 6, 2)),
		unaryCase("Reshape/toScalar", []int64{1, 1}, func(x *graphs.Value) *graphs.Value { return graphs.Reshape(x) }, reshapeTo()),
		unaryCase("Flatten/axis0", s, func(x *graphs.Value) *graphs.Value { return graphs.Flatten(x, 0) }, reshapeTo(1, 24)),
		unaryCase("Flatten/axis1", s, func(x *graphs.Value) *graphs.Value { return graphs.Flatten(x, 1) }, reshapeTo(2, 12)),
		unaryCase("Flatten/axis2", s, func(x *graphs.Value) *graphs.Value { return graphs.Flatten(x, 2) }, reshapeTo(6, 4)),
		unaryCase("Flatten/axis3", s, func(x *graphs.Value) *graphs.Value { return graphs.Flatten(x, 3) }, reshapeTo(24, 1)),
		unaryCase("Flatten/axis-1", s, func(x *graphs.Value) *graphs.Value { return graphs.Flatten(x, -1) }, reshapeTo(6, 4)),
		unaryCase("Squeeze/first", []int64{1, 3, 1, 4}, func(x *graphs.Value) *graphs.Value { return graphs.Squeeze(x, 0) }, reshapeTo(3, 1, 4)),
		unaryCase("Squeeze/two", []int64{1, 3, 1, 4}, func(x *graphs.Value) *graphs.Value { return graphs.Squeeze(x, 0, 2) }, reshapeTo(3, 4)),
		unaryCase("Squeeze/negative", []int64{1, 3, 1, 4}, func(x *graphs.Value) *graphs.Value { return graphs.Squeeze(x, -2) }, reshapeTo(1, 3, 4)),
		unaryCase("Squeeze/pooled", []int64{2, 3, 1, 1}, func(x *graphs.Value) *graphs.Value { return graphs.Squeeze(x, 2, 3) }, reshapeTo(2, 3)),
		unaryCase("Unsqueeze/front", []int64{3, 4}, func(x *graphs.Value) *graphs.Value { return graphs.Unsqueeze(x, 0) }, reshapeTo(1, 3, 4)),
		unaryCase("Unsqueeze/back", []int64{3, 4}, func(x *graphs.Value) *graphs.Value { return graphs.Unsqueeze(x, -1) }, reshapeTo(3, 4, 1)),
		unaryCase("Unsqueeze/two", []int64{3, 4}, func(x *graphs.Value) *graphs.Value { return graphs.Unsqueeze(x, 3, 0) }, reshapeTo(1, 3, 4, 1)),
		unaryCase("Unsqueeze/middle", []int64{3, 4}, func(x *graphs.Value) *graphs.Value { return graphs.Unsqueeze(x, 1, 2) }, reshapeTo(3, 1, 1, 4)),
		{
			name:  "Reshape/int64",
			args:  []arg{i64("x", -9, 9, 2, 3)},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.Reshape(in[0], 3, -1)) },
			ref:   func(in []*reference.Tensor) []*reference.Tensor { return ref1(reference.Reshape(in[0], 3, 2)) },
		},
	})
}

func TestTranspose(t *testing.T) {
	var cases []opCase
	for _, tc := range []struct {
		shape []int64
		perm  []int64
	}{
		{[]int64{3, 4}, []int64{1, 0}},
		{[]int64{2, 3, 4}, nil},                    // reverse
		{[]int64{2, 3, 4, 5}, []int64{0, 2, 3, 1}}, // NCHW → NHWC
		{[]int64{2, 3, 4, 5}, []int64{0, 2, 1, 3}}, // attention heads
		{[]int64{2, 3, 4}, []int64{0, 1, 2}},       // identity
	} {
		cases = append(cases, unaryCase(fmt.Sprintf("%v/perm=%v", tc.shape, tc.perm), tc.shape,
			func(x *graphs.Value) *graphs.Value { return graphs.Transpose(x, tc.perm...) },
			func(x *reference.Tensor) *reference.Tensor { return reference.Transpose(x, toInts(tc.perm)...) }))
	}
	runCases(t, cases)
}

func TestConcatSplit(t *testing.T) {
	concat := func(axis int64) func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
		return func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.Concat(axis, in...)) }
	}
	concatRef := func(axis int) func(in []*reference.Tensor) []*reference.Tensor {
		return func(in []*reference.Tensor) []*reference.Tensor { return ref1(reference.Concat(axis, in...)) }
	}
	split := func(axis int64, sizes ...int64) opCase {
		return opCase{
			name: fmt.Sprintf("Split/axis=%d/sizes=%v", axis, sizes),
			args: []arg{f32("x", 6, 4, 3)},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				return graphs.Split(in[0], axis, sizes...)
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				return reference.Split(in[0], int(axis), toInts(sizes)...)
			},
		}
	}
	runCases(t, []opCase{
		{name: "Concat/axis0", args: []arg{f32("a", 2, 3), f32("b", 1, 3)}, build: concat(0), ref: concatRef(0)},
		{name: "Concat/axis1/three", args: []arg{f32("a", 2, 1), f32("b", 2, 3), f32("c", 2, 2)}, build: concat(1), ref: concatRef(1)},
		{name: "Concat/axis-1/4d", args: []arg{f32("a", 2, 3, 2, 2), f32("b", 2, 3, 2, 1)}, build: concat(-1), ref: concatRef(-1)},
		{name: "Concat/channels", args: []arg{f32("a", 1, 2, 3, 3), f32("b", 1, 4, 3, 3)}, build: concat(1), ref: concatRef(1)},
		{name: "Concat/one", args: []arg{f32("a", 2, 3)}, build: concat(0), ref: concatRef(0)},
		{name: "Concat/int64", args: []arg{i64("a", -9, 9, 2), i64("b", -9, 9, 3)}, build: concat(0), ref: concatRef(0)},
		split(0, 2, 4),
		split(1, 1, 1, 2),
		split(-1, 3),
		split(2, 1, 2),
	})
}

func TestSlice(t *testing.T) {
	const maxI, minI = math.MaxInt64, math.MinInt64
	var cases []opCase
	for _, tc := range []struct {
		name                      string
		starts, ends, axes, steps []int64
	}{
		{"rows", []int64{1}, []int64{4}, []int64{0}, nil},
		{"axesNil", []int64{1, 2}, []int64{3, 5}, nil, nil},
		{"negativeIndices", []int64{-4}, []int64{-1}, []int64{1}, nil},
		{"negativeAxis", []int64{2}, []int64{4}, []int64{-1}, nil},
		{"step2", []int64{0, 1}, []int64{5, 6}, []int64{0, 1}, []int64{2, 2}},
		{"step3/offset", []int64{1}, []int64{6}, []int64{1}, []int64{3}},
		{"negativeStep", []int64{4}, []int64{0}, []int64{0}, []int64{-1}},
		{"negativeStep2/toStart", []int64{-1}, []int64{minI}, []int64{1}, []int64{-2}},
		{"reverse", []int64{maxI}, []int64{minI}, []int64{0}, []int64{-1}},
		{"clampBoth", []int64{-100}, []int64{100}, []int64{1}, nil},
		{"clampEnd/maxInt", []int64{2}, []int64{maxI}, []int64{0}, nil},
		{"negativeStep/clampStart", []int64{100}, []int64{-100}, []int64{1}, []int64{-3}},
		// ONNX clamps start to [0, d-1] for negative steps, so a start
		// before the front still yields element 0 (numpy would give none).
		{"negativeStep/startBeforeFront", []int64{-100}, []int64{minI}, []int64{1}, []int64{-1}},
		{"unsortedAxes", []int64{0, 1}, []int64{3, -1}, []int64{1, 0}, []int64{1, 2}},
	} {
		cases = append(cases, unaryCase(tc.name, []int64{5, 6},
			func(x *graphs.Value) *graphs.Value { return graphs.Slice(x, tc.starts, tc.ends, tc.axes, tc.steps) },
			func(x *reference.Tensor) *reference.Tensor {
				var axes, steps []int
				if tc.axes != nil {
					axes = toInts(tc.axes)
				}
				if tc.steps != nil {
					steps = toInts(tc.steps)
				}
				return reference.Slice(x, toInts(tc.starts), toInts(tc.ends), axes, steps)
			}))
	}
	cases = append(cases, opCase{
		name: "int64/3d",
		args: []arg{i64("x", -99, 99, 3, 4, 5)},
		build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
			return one(graphs.Slice(in[0], []int64{-1, 1}, []int64{minI, 4}, []int64{0, 2}, []int64{-1, 2}))
		},
		ref: func(in []*reference.Tensor) []*reference.Tensor {
			return ref1(reference.Slice(in[0], []int{-1, 1}, []int{minI, 4}, []int{0, 2}, []int{-1, 2}))
		},
	})
	runCases(t, cases)
}

func TestGatherScatter(t *testing.T) {
	gather := func(axis int64) func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
		return func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
			return one(graphs.Gather(in[0], in[1], axis))
		}
	}
	gatherRef := func(axis int) func(in []*reference.Tensor) []*reference.Tensor {
		return func(in []*reference.Tensor) []*reference.Tensor { return ref1(reference.Gather(in[0], in[1], axis)) }
	}
	ge := func(axis int64) func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
		return func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
			return one(graphs.GatherElements(in[0], in[1], axis))
		}
	}
	geRef := func(axis int) func(in []*reference.Tensor) []*reference.Tensor {
		return func(in []*reference.Tensor) []*reference.Tensor {
			return ref1(reference.GatherElements(in[0], in[1], axis))
		}
	}
	se := func(axis int64, reduction string) func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
		return func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
			return one(graphs.ScatterElements(in[0], in[1], in[2], axis, reduction))
		}
	}
	seRef := func(axis int, reduction string) func(in []*reference.Tensor) []*reference.Tensor {
		return func(in []*reference.Tensor) []*reference.Tensor {
			return ref1(reference.ScatterElements(in[0], in[1], in[2], axis, reduction))
		}
	}
	runCases(t, []opCase{
		// Indices may be negative: -d..d-1.
		{name: "Gather/axis0", args: []arg{f32("x", 5, 4), i64("i", -5, 4, 3)}, build: gather(0), ref: gatherRef(0)},
		{name: "Gather/axis1/2d", args: []arg{f32("x", 3, 5, 2), i64("i", -5, 4, 2, 3)}, build: gather(1), ref: gatherRef(1)},
		{name: "Gather/axis-1", args: []arg{f32("x", 3, 5), i64("i", 0, 4, 4)}, build: gather(-1), ref: gatherRef(-1)},
		{name: "Gather/scalarIndex", args: []arg{f32("x", 3, 5), i64("i", 0, 2)}, build: gather(0), ref: gatherRef(0)},
		{name: "Gather/embedding", args: []arg{f32("x", 10, 3), i64("i", 0, 9, 2, 4)}, build: gather(0), ref: gatherRef(0)},
		{name: "Gather/int64", args: []arg{i64("x", -99, 99, 6), i64("i", -6, 5, 2, 2)}, build: gather(0), ref: gatherRef(0)},
		{name: "GatherElements/axis0", args: []arg{f32("x", 3, 4), i64("i", -3, 2, 3, 4)}, build: ge(0), ref: geRef(0)},
		{name: "GatherElements/axis0/moreRows", args: []arg{f32("x", 3, 4), i64("i", 0, 2, 5, 4)}, build: ge(0), ref: geRef(0)},
		{name: "GatherElements/axis1", args: []arg{f32("x", 3, 4), i64("i", -4, 3, 3, 2)}, build: ge(1), ref: geRef(1)},
		{name: "GatherElements/axis-1/3d", args: []arg{f32("x", 2, 3, 4), i64("i", 0, 3, 2, 3, 4)}, build: ge(-1), ref: geRef(-1)},
		// The cross-entropy pattern: the logit of each label.
		{name: "GatherElements/labels", args: []arg{f32("x", 4, 10), i64("i", 0, 9, 4, 1)}, build: ge(1), ref: geRef(1)},
		// Reduction none needs distinct targets; "add" and "mul" get many repeats.
		{name: "ScatterElements/none/axis0", args: []arg{f32("d", 3, 4), i64("i", -3, 2, 1, 4), f32("u", 1, 4)},
			build: se(0, "none"), ref: seRef(0, "none")},
		{name: "ScatterElements/none/axis1", args: []arg{f32("d", 3, 4), i64("i", 0, 0, 3, 2).fixed(0, 3, 2, -3, -1, 0), f32("u", 3, 2)},
			build: se(1, "none"), ref: seRef(1, "none")},
		{name: "ScatterElements/add/axis0/repeated", args: []arg{f32("d", 3, 4), i64("i", -3, 2, 6, 4), f32("u", 6, 4)},
			build: se(0, "add"), ref: seRef(0, "add")},
		{name: "ScatterElements/add/axis1/repeated", args: []arg{f32("d", 2, 3), i64("i", 0, 2, 2, 7), f32("u", 2, 7)},
			build: se(1, "add"), ref: seRef(1, "add")},
		{name: "ScatterElements/add/3d", args: []arg{f32("d", 2, 3, 4), i64("i", 0, 3, 2, 3, 5), f32("u", 2, 3, 5)},
			build: se(-1, "add"), ref: seRef(-1, "add")},
		{name: "ScatterElements/mul/repeated", args: []arg{f32("d", 3, 4), i64("i", 0, 2, 4, 4), f32("u", 4, 4)},
			build: se(0, "mul"), ref: seRef(0, "mul")},
		{name: "ScatterElements/add/int64", args: []arg{i64("d", -9, 9, 4), i64("i", 0, 3, 9), i64("u", -9, 9, 9)},
			build: se(0, "add"), ref: seRef(0, "add")},
	})
}

func TestExpandTilePad(t *testing.T) {
	expand := func(x []int64, shape ...int64) opCase {
		return unaryCase(fmt.Sprintf("Expand/%v/to%v", x, shape), x,
			func(x *graphs.Value) *graphs.Value { return graphs.Expand(x, shape...) },
			func(x *reference.Tensor) *reference.Tensor { return reference.Expand(x, toInts(shape)) })
	}
	tile := func(x []int64, reps ...int64) opCase {
		return unaryCase(fmt.Sprintf("Tile/%v/%v", x, reps), x,
			func(x *graphs.Value) *graphs.Value { return graphs.Tile(x, reps...) },
			func(x *reference.Tensor) *reference.Tensor { return reference.Tile(x, toInts(reps)...) })
	}
	pad := func(name string, x []int64, pads []int64, mode string, value float32) opCase {
		return unaryCase(fmt.Sprintf("Pad/%s/%s", mode, name), x,
			func(x *graphs.Value) *graphs.Value { return graphs.Pad(x, pads, mode, value) },
			func(x *reference.Tensor) *reference.Tensor {
				return reference.Pad(x, toInts(pads), mode, float64(value))
			})
	}
	img := []int64{1, 2, 3, 4}
	runCases(t, []opCase{
		expand([]int64{3, 1}, 2, 3, 4),
		expand([]int64{2, 3, 4}, 4),       // shape of lower rank
		expand([]int64{3, 4}, 1, 1, 4),    // the result keeps x's larger dims
		expand([]int64{3, 1}, 1, 5),       // both sides broadcast
		expand([]int64{1}, 2, 2),          // a broadcast scalar
		expand([]int64{2, 1, 3}, 2, 4, 3), // the same rank
		tile([]int64{2, 3}, 2, 3),
		tile([]int64{2, 1, 3}, 1, 4, 1),
		tile([]int64{4}, 1),
		{
			name:  "Tile/int64",
			args:  []arg{i64("x", -9, 9, 2, 2)},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.Tile(in[0], 3, 1)) },
			ref:   func(in []*reference.Tensor) []*reference.Tensor { return ref1(reference.Tile(in[0], 3, 1)) },
		},
		pad("zero", img, []int64{0, 0, 1, 1, 0, 0, 1, 1}, "constant", 0),
		pad("uneven", []int64{2, 3, 4}, []int64{0, 1, 2, 0, 2, 1}, "constant", 0.5),
		pad("crop", []int64{2, 3, 4}, []int64{0, -1, 1, 0, 1, -2}, "constant", -3),
		pad("spatial", img, []int64{0, 0, 1, 2, 0, 0, 2, 1}, "reflect", 0),
		pad("allAxes", []int64{3, 4}, []int64{2, 1, 1, 3}, "reflect", 0),
		pad("spatial", img, []int64{0, 0, 1, 2, 0, 0, 2, 1}, "edge", 0),
		pad("allAxes", []int64{3, 4}, []int64{2, 1, 1, 5}, "edge", 0),
	})
}

func TestOneHotShape(t *testing.T) {
	oneHot := func(depth int64, off, on float32) (func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value, func(in []*reference.Tensor) []*reference.Tensor) {
		return func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				return one(graphs.OneHot(in[0], depth, off, on))
			}, func(in []*reference.Tensor) []*reference.Tensor {
				return ref1(reference.OneHot(in[0], int(depth), float64(off), float64(on)))
			}
	}
	b1, r1 := oneHot(5, 0, 1)
	b2, r2 := oneHot(5, -1, 2)
	b3, r3 := oneHot(4, 0, 1)
	shape := func(s ...int64) opCase {
		return opCase{
			name:  fmt.Sprintf("Shape/%v", s),
			args:  []arg{f32("x", s...)},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.Shape(in[0])) },
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				return ref1(reference.FromInt64(s, int64(len(s))))
			},
		}
	}
	runCases(t, []opCase{
		{name: "OneHot/labels", args: []arg{i64("i", 0, 4, 6)}, build: b1, ref: r1},
		{name: "OneHot/negative/2d", args: []arg{i64("i", -5, 4, 2, 3)}, build: b2, ref: r2},
		// Indices outside [-depth, depth-1] give all-off vectors.
		{name: "OneHot/outOfRange", args: []arg{i64("i", 0, 0, 4).fixed(4, -5, 9, 3)}, build: b3, ref: r3},
		shape(2, 3, 4),
		shape(7),
		shape(1, 3, 1, 1, 2),
	})
}

func TestShapeBuildErrors(t *testing.T) {
	x := func(b *graphs.Builder) *graphs.Value { return b.Input("x", onnx.Float, 2, 3, 4) }
	runBuildErrors(t, []buildErrorCase{
		{"Reshape/size", "Reshape", func(b *graphs.Builder) { graphs.Reshape(x(b), 5, 5) }},
		{"Reshape/infer", "Reshape", func(b *graphs.Builder) { graphs.Reshape(x(b), 5, -1) }},
		{"Reshape/twoMinus1", "Reshape", func(b *graphs.Builder) { graphs.Reshape(x(b), -1, -1) }},
		{"Transpose/perm", "Transpose", func(b *graphs.Builder) { graphs.Transpose(x(b), 0, 0, 1) }},
		{"Transpose/rank", "Transpose", func(b *graphs.Builder) { graphs.Transpose(x(b), 1, 0) }},
		{"Flatten/axis", "Flatten", func(b *graphs.Builder) { graphs.Flatten(x(b), 4) }},
		{"Squeeze/notOne", "Squeeze", func(b *graphs.Builder) { graphs.Squeeze(x(b), 1) }},
		{"Unsqueeze/repeated", "Unsqueeze", func(b *graphs.Builder) { graphs.Unsqueeze(x(b), 0, -5) }},
		{"Concat/dims", "Concat", func(b *graphs.Builder) { graphs.Concat(0, x(b), b.Input("y", onnx.Float, 2, 4, 4)) }},
		{"Concat/rank", "Concat", func(b *graphs.Builder) { graphs.Concat(0, x(b), b.Input("y", onnx.Float, 2, 3)) }},
		{"Slice/empty", "Slice", func(b *graphs.Builder) { graphs.Slice(x(b), []int64{2}, []int64{1}, []int64{1}, nil) }},
		{"Slice/step0", "Slice", func(b *graphs.Builder) { graphs.Slice(x(b), []int64{0}, []int64{1}, []int64{1}, []int64{0}) }},
		{"Split/sizes", "Split", func(b *graphs.Builder) { graphs.Split(x(b), 1, 1, 1) }},
		{"Gather/indexType", "Gather", func(b *graphs.Builder) { graphs.Gather(x(b), b.Input("i", onnx.Float, 2), 0) }},
		{"GatherElements/rank", "GatherElements", func(b *graphs.Builder) {
			graphs.GatherElements(x(b), b.Input("i", onnx.Int64, 2, 3), 0)
		}},
		{"ScatterElements/reduction", "ScatterElements", func(b *graphs.Builder) {
			d := x(b)
			graphs.ScatterElements(d, b.Input("i", onnx.Int64, 2, 3, 4), d, 0, "max")
		}},
		{"Expand/shape", "Expand", func(b *graphs.Builder) { graphs.Expand(x(b), 3, 5) }},
		{"Tile/repeats", "Tile", func(b *graphs.Builder) { graphs.Tile(x(b), 2, 2) }},
		{"Pad/length", "Pad", func(b *graphs.Builder) { graphs.Pad(x(b), []int64{1, 1}, "constant", 0) }},
		{"Pad/mode", "Pad", func(b *graphs.Builder) { graphs.Pad(x(b), make([]int64, 6), "wrap", 0) }},
		{"OneHot/indexType", "OneHot", func(b *graphs.Builder) { graphs.OneHot(x(b), 3, 0, 1) }},
	})
}
