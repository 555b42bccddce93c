package graphs_test

import (
	"fmt"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/reference"
	"github.com/taet-ml/taet/onnx"
)

// reduceOps are the reductions over an axis set, with their references.
var reduceOps = []struct {
	op  string
	f   func(x *graphs.Value, axes []int64, keepdims bool) *graphs.Value
	ref func(x *reference.Tensor, axes []int, keepdims bool) *reference.Tensor
}{
	{"ReduceSum", graphs.ReduceSum, reference.ReduceSum},
	{"ReduceMean", graphs.ReduceMean, reference.ReduceMean},
	{"ReduceMax", graphs.ReduceMax, reference.ReduceMax},
}

// axesName names an axis set in a subtest: "all" for the empty set.
func axesName(axes []int64) string {
	if len(axes) == 0 {
		return "all"
	}
	return fmt.Sprint(axes)
}

func toInts(s []int64) []int { return intShape(s) }

func TestReduce(t *testing.T) {
	var cases []opCase
	for _, op := range reduceOps {
		for _, s := range []struct {
			shape []int64
			axes  []int64
		}{
			{[]int64{2, 3, 4}, nil},
			{[]int64{2, 3, 4}, []int64{0}},
			{[]int64{2, 3, 4}, []int64{1}},
			{[]int64{2, 3, 4}, []int64{-1}},
			{[]int64{2, 3, 4}, []int64{0, 2}},
			{[]int64{2, 3, 4}, []int64{2, -3}}, // unsorted, one negative
			{[]int64{2, 3, 4}, []int64{1, 2}},
			{[]int64{2, 3, 4}, []int64{0, 1, 2}},
			{[]int64{2, 3, 2, 5}, []int64{2, 3}}, // spatial mean, as in a pooling head
			{[]int64{7}, []int64{0}},
		} {
			for _, keepdims := range []bool{true, false} {
				cases = append(cases, opCase{
					name: fmt.Sprintf("%s/%v/axes=%s/keepdims=%v", op.op, s.shape, axesName(s.axes), keepdims),
					args: []arg{f32("x", s.shape...)},
					build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
						return one(op.f(in[0], s.axes, keepdims))
					},
					ref: func(in []*reference.Tensor) []*reference.Tensor {
						return ref1(op.ref(in[0], toInts(s.axes), keepdims))
					},
				})
			}
		}
	}
	cases = append(cases,
		opCase{
			name: "ReduceSum/int64",
			args: []arg{i64("x", -50, 50, 3, 4)},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				return one(graphs.ReduceSum(in[0], []int64{1}, false))
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				return ref1(reference.ReduceSum(in[0], []int{1}, false))
			},
		},
		opCase{
			name: "ReduceMax/negative",
			args: []arg{f32("x", 3, 4).with(uniform(-10, -1))},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				return one(graphs.ReduceMax(in[0], []int64{-1}, true))
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				return ref1(reference.ReduceMax(in[0], []int{-1}, true))
			},
		},
	)
	runCases(t, cases)
}

func TestArgMax(t *testing.T) {
	var cases []opCase
	for _, axis := range []int64{0, 1, 2, -1} {
		for _, keepdims := range []bool{true, false} {
			cases = append(cases, opCase{
				name: fmt.Sprintf("axis=%d/keepdims=%v", axis, keepdims),
				args: []arg{f32("x", 2, 3, 4)},
				build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
					return one(graphs.ArgMax(in[0], axis, keepdims))
				},
				ref: func(in []*reference.Tensor) []*reference.Tensor {
					return ref1(reference.ArgMax(in[0], int(axis), keepdims))
				},
			})
		}
	}
	cases = append(cases, opCase{
		// Ties everywhere: ArgMax must pick the first maximal index
		// (select_last_index 0).
		name: "ties",
		args: []arg{f32("x", 4, 6).with(intsIn(0, 2))},
		build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
			return one(graphs.ArgMax(in[0], 1, false))
		},
		ref: func(in []*reference.Tensor) []*reference.Tensor { return ref1(reference.ArgMax(in[0], 1, false)) },
	}, opCase{
		name:  "int64",
		args:  []arg{i64("x", -1000, 1000, 3, 5)},
		build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.ArgMax(in[0], 0, true)) },
		ref:   func(in []*reference.Tensor) []*reference.Tensor { return ref1(reference.ArgMax(in[0], 0, true)) },
	})
	runCases(t, cases)
}

// TestReduceAtOpset18 runs ReduceMean and ReduceMax in a graph that Col2Im
// lifts to opset 18, where their axes move from an attribute to an input
// (Node.protos emits a Constant for them). ReduceSum takes its axes as an
// input already. Opset-18 graphs are not given to the checker: Debian's
// python3-onnx 1.12 knows opsets up to 17 only.
func TestReduceAtOpset18(t *testing.T) {
	col2im := func(b *graphs.Builder, in *graphs.Value) *graphs.Value {
		return graphs.Col2Im(in, []int64{3, 3}, []int64{1, 1}, graphs.ConvOpts{})
	}
	col2imRef := func(in *reference.Tensor) *reference.Tensor {
		return reference.Col2Im(in, []int{3, 3}, []int{1, 1}, reference.ConvParams{})
	}
	var cases []opCase
	for _, op := range reduceOps {
		for _, axes := range [][]int64{nil, {1}, {2, 3}} {
			for _, keepdims := range []bool{true, false} {
				cases = append(cases, opCase{
					name:    fmt.Sprintf("%s/axes=%s/keepdims=%v", op.op, axesName(axes), keepdims),
					args:    []arg{f32("x", 2, 3, 9)},
					opset18: true,
					build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
						return one(op.f(col2im(b, in[0]), axes, keepdims))
					},
					ref: func(in []*reference.Tensor) []*reference.Tensor {
						return ref1(op.ref(col2imRef(in[0]), toInts(axes), keepdims))
					},
				})
			}
		}
	}
	runCases(t, cases)
	m, err := graphs.Build("opset18", func(b *graphs.Builder) {
		x := b.Input("x", onnx.Float, 1, 1, 9)
		b.Output("y", graphs.ReduceMean(col2im(b, x), []int64{1}, false))
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := m.Proto.GetOpsetImport()[0].GetVersion(); v != 18 {
		t.Errorf("a graph with Col2Im has opset %d, want 18", v)
	}
}

func TestReduceBuildErrors(t *testing.T) {
	x := func(b *graphs.Builder) *graphs.Value { return b.Input("x", onnx.Float, 2, 3, 4) }
	runBuildErrors(t, []buildErrorCase{
		{"ReduceSum/axisRange", "ReduceSum", func(b *graphs.Builder) { graphs.ReduceSum(x(b), []int64{3}, true) }},
		{"ReduceMean/axisRange", "ReduceMean", func(b *graphs.Builder) { graphs.ReduceMean(x(b), []int64{-4}, true) }},
		{"ReduceMax/repeated", "ReduceMax", func(b *graphs.Builder) { graphs.ReduceMax(x(b), []int64{1, -2}, false) }},
		{"ArgMax/axisRange", "ArgMax", func(b *graphs.Builder) { graphs.ArgMax(x(b), 5, false) }},
	})
}
