package graphs_test

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/reference"
	"github.com/taet-ml/taet/internal/testseed"
	"github.com/taet-ml/taet/onnx"
)

// This file also holds the harness the ops_*_test.go files share: an op
// case declares its inputs, builds a graph from them and computes the
// expected outputs with internal/reference; runCases runs every case on ONNX
// Runtime, compares it elementwise with the reference, and validates all of
// them, built into one graph, with the ONNX checker.

// defaultSeed seeds the random inputs unless TAET_TEST_SEED says otherwise.
const defaultSeed = 20240611

// testSeed returns TAET_TEST_SEED when set, else defaultSeed.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	return testseed.Get(t, defaultSeed)
}

// newRand returns a PCG generator seeded from testSeed and t's name, so a
// subtest draws the same inputs however the tests are filtered. The seed is
// logged if t fails.
func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := testSeed(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("random inputs: seed %d (set TAET_TEST_SEED to change it), stream %q", seed, t.Name())
		}
	})
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// arg is one graph input of an op case.
type arg struct {
	name  string
	dtype onnx.DType
	shape []int64
	gen   func(r *rand.Rand) float64 // draws one element; nil means N(0, 1)
	data  []float64                  // fixed elements, used instead of gen when set
}

// f32 is a float32 input drawn from N(0, 1).
func f32(name string, shape ...int64) arg { return arg{name: name, dtype: onnx.Float, shape: shape} }

// i64 is an int64 input drawn uniformly from [lo, hi].
func i64(name string, lo, hi int, shape ...int64) arg {
	return arg{name: name, dtype: onnx.Int64, shape: shape, gen: intsIn(lo, hi)}
}

// boolean is a bool input, true with probability ½.
func boolean(name string, shape ...int64) arg {
	return arg{name: name, dtype: onnx.Bool, shape: shape, gen: intsIn(0, 1)}
}

// with returns a with elements drawn by gen.
func (a arg) with(gen func(r *rand.Rand) float64) arg { a.gen = gen; return a }

// fixed returns a with the given elements.
func (a arg) fixed(data ...float64) arg { a.data = data; return a }

// uniform draws from [lo, hi).
func uniform(lo, hi float64) func(r *rand.Rand) float64 {
	return func(r *rand.Rand) float64 { return lo + (hi-lo)*r.Float64() }
}

// signedUniform draws from ±[lo, hi): away from zero on both sides.
func signedUniform(lo, hi float64) func(r *rand.Rand) float64 {
	return func(r *rand.Rand) float64 {
		v := lo + (hi-lo)*r.Float64()
		if r.IntN(2) == 0 {
			return -v
		}
		return v
	}
}

// intsIn draws integers uniformly from [lo, hi].
func intsIn(lo, hi int) func(r *rand.Rand) float64 {
	return func(r *rand.Rand) float64 { return float64(lo + r.IntN(hi-lo+1)) }
}

// normal draws from N(0, sigma²).
func normal(sigma float64) func(r *rand.Rand) float64 {
	return func(r *rand.Rand) float64 { return sigma * r.NormFloat64() }
}

// tensors draws a's elements and returns them as an ONNX Runtime input and
// as a reference tensor holding exactly the same values.
func (a arg) tensors(t testing.TB, r *rand.Rand) (ortest.Tensor, *reference.Tensor) {
	t.Helper()
	n := 1
	for _, d := range a.shape {
		n *= int(d)
	}
	vals := a.data
	if vals == nil {
		gen := a.gen
		if gen == nil {
			gen = func(r *rand.Rand) float64 { return r.NormFloat64() }
		}
		vals = make([]float64, n)
		for i := range vals {
			vals[i] = gen(r)
		}
	}
	if len(vals) != n {
		t.Fatalf("input %s: shape %v needs %d values, got %d", a.name, a.shape, n, len(vals))
	}
	ref := reference.FromData(vals, intShape(a.shape)...)
	switch a.dtype {
	case onnx.Float:
		f := ref.Float32()
		return ortest.F32(f, a.shape...), reference.FromFloat32(f, a.shape...)
	case onnx.Int64:
		return ortest.I64(ref.Int64(), a.shape...), ref
	case onnx.Bool:
		b := ref.Bool()
		return ortest.Tensor{Shape: a.shape, B: b}, reference.FromBool(b, a.shape...)
	}
	t.Fatalf("input %s: element type %v not supported", a.name, a.dtype)
	return ortest.Tensor{}, nil
}

func intShape(s []int64) []int {
	out := make([]int, len(s))
	for i, d := range s {
		out[i] = int(d)
	}
	return out
}

// opCase is one op application checked against the reference.
type opCase struct {
	name  string
	args  []arg
	build func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value
	ref   func(in []*reference.Tensor) []*reference.Tensor
	// tol is the absolute and the relative tolerance for float outputs
	// (0 means 1e-5); int64 and bool outputs must match exactly.
	tol float64
	// opset18 marks a graph that needs opset 18 (Col2Im): the Debian ONNX
	// checker knows opsets up to 17 only, so it is not checked.
	opset18 bool
}

// one wraps a single output.
func one(v *graphs.Value) []*graphs.Value { return []*graphs.Value{v} }

// ref1 wraps a single reference output.
func ref1(v *reference.Tensor) []*reference.Tensor { return []*reference.Tensor{v} }

// declare adds tc's inputs to b, their names prefixed by prefix.
func (tc opCase) declare(b *graphs.Builder, prefix string) []*graphs.Value {
	in := make([]*graphs.Value, len(tc.args))
	for i, a := range tc.args {
		in[i] = b.Input(prefix+a.name, a.dtype, a.shape...)
	}
	return in
}

// runCases runs every case as a subtest of t (see runCase), then builds
// all of them, opset-18 ones excepted, into one graph and validates it with
// the ONNX checker (one checker process per test keeps the suite fast).
func runCases(t *testing.T, cases []opCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runCase(t, tc) })
	}
	checkCases(t, cases)
}

// runCase builds tc's graph, runs it on ONNX Runtime with random inputs and
// compares every output with the reference.
func runCase(t *testing.T, tc opCase) {
	t.Helper()
	// onnxruntime_go cannot wrap rank-0 tensors ("the shape has no
	// dimensions"), so scalars cross the session boundary as [1] and are
	// reshaped inside the graph. The checker graph keeps the true scalars.
	m, err := graphs.Build(tc.name, func(b *graphs.Builder) {
		in := make([]*graphs.Value, len(tc.args))
		for i, a := range tc.args {
			if len(a.shape) == 0 {
				in[i] = graphs.Reshape(b.Input(a.name, a.dtype, 1))
			} else {
				in[i] = b.Input(a.name, a.dtype, a.shape...)
			}
		}
		for i, v := range tc.build(b, in) {
			if v.Rank() == 0 {
				v = graphs.Reshape(v, 1)
			}
			b.Output(fmt.Sprintf("y%d", i), v)
		}
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	ortest.Init(t)
	r := newRand(t)
	ins := make([]ortest.Tensor, len(tc.args))
	refs := make([]*reference.Tensor, len(tc.args))
	for i, a := range tc.args {
		ins[i], refs[i] = a.tensors(t, r)
		if len(a.shape) == 0 {
			ins[i].Shape = []int64{1}
		}
	}
	want := tc.ref(refs)
	if len(want) != len(m.Outputs) {
		t.Fatalf("graph has %d outputs, reference %d", len(m.Outputs), len(want))
	}
	for i, w := range want {
		if w.Rank() == 0 {
			want[i] = reference.Reshape(w, 1)
		}
	}
	got := ortest.Run(t, m, ins...)
	for i := range got {
		tol := tc.tol
		if tol == 0 {
			tol = 1e-5
		}
		if m.Outputs[i].DType != onnx.Float {
			tol = 0
		}
		if err := reference.Compare(fromOrt(got[i]), want[i], tol, tol); err != nil {
			t.Errorf("output %d (%s %v): %v", i, m.Outputs[i].Name, m.Outputs[i].Shape, err)
		}
	}
}

// fromOrt converts an ONNX Runtime output to a reference tensor.
func fromOrt(o ortest.Tensor) *reference.Tensor {
	switch {
	case o.F != nil:
		return reference.FromFloat32(o.F, o.Shape...)
	case o.I != nil:
		return reference.FromInt64(o.I, o.Shape...)
	}
	return reference.FromBool(o.B, o.Shape...)
}

// checkCases builds every case but the opset-18 ones side by side in one
// graph, each in a scope named after it, and runs the ONNX checker
// (full_check) on it.
func checkCases(t *testing.T, cases []opCase) {
	t.Helper()
	if !slices.ContainsFunc(cases, func(tc opCase) bool { return !tc.opset18 }) {
		return
	}
	m, err := graphs.Build(t.Name(), func(b *graphs.Builder) {
		for _, tc := range cases {
			if tc.opset18 {
				continue
			}
			b.WithScope(tc.name, func() {
				for i, v := range tc.build(b, tc.declare(b, tc.name+"/")) {
					b.Output(fmt.Sprintf("%s/y%d", tc.name, i), v)
				}
			})
		}
	})
	if err != nil {
		t.Fatalf("build the combined graph for the checker: %v", err)
	}
	ortest.Check(t, m)
}

// buildErrorCase is a graph that shape or type checking must reject.
type buildErrorCase struct {
	name  string
	op    string // the op the *BuildError must name
	build func(b *graphs.Builder)
}

// runBuildErrors checks that every case fails to build with a *BuildError for its op.
func runBuildErrors(t *testing.T, cases []buildErrorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := graphs.Build(tc.name, func(b *graphs.Builder) {
				tc.build(b)
				// Not reached when build panics; keeps Finish from complaining otherwise.
				b.Output("unexpected", b.Scalar(0))
			})
			var be *graphs.BuildError
			if !errors.As(err, &be) {
				t.Fatalf("got error %v, want a *graphs.BuildError", err)
			}
			if be.Op != tc.op {
				t.Errorf("BuildError names op %q, want %q (%v)", be.Op, tc.op, err)
			}
		})
	}
}

// binaryOps are the broadcasting float ops, their reference and a domain for the operands.
var binaryOps = []struct {
	op    string
	f     func(x, y *graphs.Value) *graphs.Value
	ref   func(a, b float64) float64
	x, y  func(r *rand.Rand) float64 // nil: N(0, 1)
	isInt bool                       // also run on int64 operands
	iref  func(a, b float64) float64 // int64 reference when it differs
}{
	{op: "Add", f: graphs.Add, ref: func(a, b float64) float64 { return a + b }, isInt: true},
	{op: "Sub", f: graphs.Sub, ref: func(a, b float64) float64 { return a - b }, isInt: true},
	{op: "Mul", f: graphs.Mul, ref: func(a, b float64) float64 { return a * b }, isInt: true},
	{op: "Div", f: graphs.Div, ref: func(a, b float64) float64 { return a / b }, y: signedUniform(0.5, 2), isInt: true,
		iref: func(a, b float64) float64 { return math.Trunc(a / b) }}, // C++ integer division truncates
	{op: "Pow", f: graphs.Pow, ref: math.Pow, x: uniform(0.5, 2)},
	{op: "Max", f: graphs.Max, ref: math.Max, isInt: true},
	{op: "Min", f: graphs.Min, ref: math.Min, isInt: true},
}

// broadcastShapes are operand shape pairs covering ONNX multidirectional broadcasting.
var broadcastShapes = []struct {
	name string
	x, y []int64
}{
	{"same", []int64{2, 3, 4}, []int64{2, 3, 4}},
	{"trailing", []int64{2, 3, 4}, []int64{4}},
	{"both", []int64{2, 1, 4}, []int64{3, 1}},
	{"scalar", []int64{}, []int64{2, 3}},
	{"ones", []int64{1, 3, 1}, []int64{2, 1, 5}},
}

func TestBinaryOps(t *testing.T) {
	var cases []opCase
	for _, op := range binaryOps {
		for _, s := range broadcastShapes {
			cases = append(cases, opCase{
				name:  op.op + "/" + s.name,
				args:  []arg{f32("x", s.x...).with(op.x), f32("y", s.y...).with(op.y)},
				build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(op.f(in[0], in[1])) },
				ref: func(in []*reference.Tensor) []*reference.Tensor {
					return ref1(reference.Map2(in[0], in[1], op.ref))
				},
			})
		}
		if op.isInt {
			iref := op.ref
			if op.iref != nil {
				iref = op.iref
			}
			y := i64("y", -7, 7, 3, 1)
			if op.op == "Div" {
				y = y.with(func(r *rand.Rand) float64 { return float64((1 + r.IntN(5)) * (1 - 2*r.IntN(2))) })
			}
			cases = append(cases, opCase{
				name:  op.op + "/int64",
				args:  []arg{i64("x", -20, 20, 2, 3, 4), y},
				build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(op.f(in[0], in[1])) },
				ref: func(in []*reference.Tensor) []*reference.Tensor {
					return ref1(reference.Map2(in[0], in[1], iref))
				},
			})
		}
	}
	// Pow with an odd integer exponent is defined for negative bases.
	cases = append(cases, opCase{
		name:  "Pow/negativeBase",
		args:  []arg{f32("x", 2, 5), f32("y").fixed(3)},
		build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.Pow(in[0], in[1])) },
		ref:   func(in []*reference.Tensor) []*reference.Tensor { return ref1(reference.Map2(in[0], in[1], math.Pow)) },
	})
	runCases(t, cases)
}

func TestUnaryOps(t *testing.T) {
	zeroOrNormal := func(r *rand.Rand) float64 {
		if r.IntN(4) == 0 {
			return 0
		}
		return r.NormFloat64()
	}
	sign := func(v float64) float64 {
		switch {
		case v > 0:
			return 1
		case v < 0:
			return -1
		}
		return 0
	}
	var cases []opCase
	for _, tc := range []struct {
		op    string
		f     func(x *graphs.Value) *graphs.Value
		ref   func(float64) float64
		dtype onnx.DType
		gen   func(r *rand.Rand) float64
	}{
		{"Neg", graphs.Neg, func(v float64) float64 { return -v }, onnx.Float, nil},
		{"Abs", graphs.Abs, math.Abs, onnx.Float, nil},
		{"Sign", graphs.Sign, sign, onnx.Float, zeroOrNormal},
		{"Exp", graphs.Exp, math.Exp, onnx.Float, normal(3)},
		{"Log", graphs.Log, math.Log, onnx.Float, uniform(0.01, 10)},
		{"Sqrt", graphs.Sqrt, math.Sqrt, onnx.Float, uniform(0, 10)},
		{"Reciprocal", graphs.Reciprocal, func(v float64) float64 { return 1 / v }, onnx.Float, signedUniform(0.1, 10)},
		{"Relu", graphs.Relu, func(v float64) float64 { return math.Max(v, 0) }, onnx.Float, zeroOrNormal},
		{"Sigmoid", graphs.Sigmoid, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }, onnx.Float, normal(5)},
		{"Tanh", graphs.Tanh, math.Tanh, onnx.Float, normal(3)},
		{"Erf", graphs.Erf, math.Erf, onnx.Float, normal(2)},
		{"Identity", graphs.Identity, func(v float64) float64 { return v }, onnx.Float, nil},
		{"Neg/int64", graphs.Neg, func(v float64) float64 { return -v }, onnx.Int64, intsIn(-9, 9)},
		{"Abs/int64", graphs.Abs, math.Abs, onnx.Int64, intsIn(-9, 9)},
		{"Sign/int64", graphs.Sign, sign, onnx.Int64, intsIn(-2, 2)},
		{"Identity/int64", graphs.Identity, func(v float64) float64 { return v }, onnx.Int64, intsIn(-9, 9)},
	} {
		cases = append(cases, opCase{
			name:  tc.op,
			args:  []arg{{name: "x", dtype: tc.dtype, shape: []int64{2, 3, 4}, gen: tc.gen}},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(tc.f(in[0])) },
			ref:   func(in []*reference.Tensor) []*reference.Tensor { return ref1(reference.Map(in[0], tc.ref)) },
		})
	}
	cases = append(cases, opCase{
		name:  "Identity/bool",
		args:  []arg{boolean("x", 7)},
		build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.Identity(in[0])) },
		ref:   func(in []*reference.Tensor) []*reference.Tensor { return ref1(in[0]) },
	}, opCase{
		name:  "Exp/scalar",
		args:  []arg{f32("x")},
		build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.Exp(in[0])) },
		ref:   func(in []*reference.Tensor) []*reference.Tensor { return ref1(reference.Map(in[0], math.Exp)) },
	})
	runCases(t, cases)
}

func TestComparisonsAndWhere(t *testing.T) {
	// Small integers make ties, and so Equal, likely.
	small := intsIn(-2, 2)
	var cases []opCase
	for _, op := range []struct {
		op  string
		f   func(x, y *graphs.Value) *graphs.Value
		ref func(a, b float64) bool
	}{
		{"Equal", graphs.Equal, func(a, b float64) bool { return a == b }},
		{"Less", graphs.Less, func(a, b float64) bool { return a < b }},
		{"Greater", graphs.Greater, func(a, b float64) bool { return a > b }},
	} {
		ref := func(in []*reference.Tensor) []*reference.Tensor {
			return ref1(reference.Map2(in[0], in[1], func(a, b float64) float64 { return reference.Bool(op.ref(a, b)) }))
		}
		build := func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(op.f(in[0], in[1])) }
		cases = append(cases,
			opCase{name: op.op + "/float", args: []arg{f32("x", 2, 3, 4).with(small), f32("y", 2, 3, 4).with(small)}, build: build, ref: ref},
			opCase{name: op.op + "/broadcast", args: []arg{f32("x", 2, 1, 4).with(small), f32("y", 3, 1).with(small)}, build: build, ref: ref},
			opCase{name: op.op + "/int64", args: []arg{i64("x", -2, 2, 3, 4), i64("y", -2, 2, 4)}, build: build, ref: ref},
		)
	}
	cases = append(cases, opCase{
		name:  "Equal/bool",
		args:  []arg{boolean("x", 3, 4), boolean("y", 4)},
		build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.Equal(in[0], in[1])) },
		ref: func(in []*reference.Tensor) []*reference.Tensor {
			return ref1(reference.Map2(in[0], in[1], func(a, b float64) float64 { return reference.Bool(a == b) }))
		},
	})
	where := func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
		return one(graphs.Where(in[0], in[1], in[2]))
	}
	whereRef := func(in []*reference.Tensor) []*reference.Tensor { return ref1(reference.Where(in[0], in[1], in[2])) }
	cases = append(cases,
		opCase{
			name:  "Not",
			args:  []arg{boolean("x", 3, 4)},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.Not(in[0])) },
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				return ref1(reference.Map(in[0], func(v float64) float64 { return 1 - v }))
			},
		},
		opCase{name: "Where/same", args: []arg{boolean("c", 2, 3, 4), f32("x", 2, 3, 4), f32("y", 2, 3, 4)}, build: where, ref: whereRef},
		opCase{name: "Where/broadcast", args: []arg{boolean("c", 3, 1), f32("x", 2, 1, 4), f32("y")}, build: where, ref: whereRef},
		opCase{name: "Where/int64", args: []arg{boolean("c", 4), i64("x", -9, 9, 3, 4), i64("y", -9, 9, 3, 1)}, build: where, ref: whereRef},
		opCase{
			// The pattern the gradient rules use: a mask from a comparison.
			name: "Where/Greater",
			args: []arg{f32("x", 3, 5), f32("y", 5)},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				return one(graphs.Where(graphs.Not(graphs.Greater(in[0], in[1])), in[0], b.Scalar(0)))
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				return ref1(reference.Map2(in[0], in[1], func(a, b float64) float64 {
					if a > b {
						return 0
					}
					return a
				}))
			},
		},
	)
	runCases(t, cases)
}

// TestUnbroadcast checks the helper every binary gradient rule uses: it
// sums a broadcast result back down to an operand's shape.
func TestUnbroadcast(t *testing.T) {
	var cases []opCase
	for _, tc := range []struct {
		g, to []int64
		axes  []int // axes of g to sum, keeping them
	}{
		{[]int64{2, 3, 4}, []int64{2, 3, 4}, nil},
		{[]int64{2, 3, 4}, []int64{4}, []int{0, 1}},
		{[]int64{2, 3, 4}, []int64{3, 1}, []int{0, 2}},
		{[]int64{2, 3, 4}, []int64{1, 1, 1}, []int{0, 1, 2}},
		{[]int64{2, 3, 4}, []int64{}, []int{0, 1, 2}},
		{[]int64{2, 1, 4}, []int64{1, 4}, []int{0}},
	} {
		cases = append(cases, opCase{
			name: fmt.Sprintf("%v/to%v", tc.g, tc.to),
			args: []arg{f32("g", tc.g...)},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				return one(graphs.Unbroadcast(in[0], tc.to))
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				s := in[0]
				if tc.axes != nil {
					s = reference.ReduceSum(s, tc.axes, true)
				}
				return ref1(reference.Reshape(s, intShape(tc.to)...))
			},
		})
	}
	runCases(t, cases)
}

func TestCast(t *testing.T) {
	// Values with fractions of both signs, whole numbers and zeros.
	mixed := func(r *rand.Rand) float64 {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return float64(r.IntN(7) - 3)
		}
		return 4 * r.NormFloat64()
	}
	identity := func(in []*reference.Tensor) []*reference.Tensor { return ref1(in[0]) }
	nonzero := func(in []*reference.Tensor) []*reference.Tensor {
		return ref1(reference.Map(in[0], func(v float64) float64 { return reference.Bool(v != 0) }))
	}
	var cases []opCase
	for _, tc := range []struct {
		name string
		x    arg
		to   onnx.DType
		ref  func(in []*reference.Tensor) []*reference.Tensor
	}{
		// ONNX leaves float→int rounding open; ONNX Runtime truncates toward zero, like C.
		{"float/int64", f32("x", 3, 4).with(mixed), onnx.Int64, func(in []*reference.Tensor) []*reference.Tensor {
			return ref1(reference.Map(in[0], math.Trunc))
		}},
		{"int64/float", i64("x", -1000, 1000, 3, 4), onnx.Float, identity},
		{"float/bool", f32("x", 3, 4).with(mixed), onnx.Bool, nonzero},
		{"bool/float", boolean("x", 3, 4), onnx.Float, identity},
		{"bool/int64", boolean("x", 3, 4), onnx.Int64, identity},
		{"int64/bool", i64("x", -2, 2, 3, 4), onnx.Bool, nonzero},
		{"float/float", f32("x", 3, 4), onnx.Float, identity},
	} {
		cases = append(cases, opCase{
			name:  tc.name,
			args:  []arg{tc.x},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value { return one(graphs.Cast(in[0], tc.to)) },
			ref:   tc.ref,
		})
	}
	runCases(t, cases)
}

func TestClip(t *testing.T) {
	var cases []opCase
	for _, tc := range []struct {
		name   string
		lo, hi float32
	}{
		{"symmetric", -0.5, 0.5},
		{"relu6", 0, 6},
		{"pixels", 0, 1},
		{"point", -1, -1},
	} {
		cases = append(cases, opCase{
			name: tc.name,
			args: []arg{f32("x", 2, 3, 4).with(normal(4))},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				return one(graphs.Clip(in[0], tc.lo, tc.hi))
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				return ref1(reference.Map(in[0], func(v float64) float64 {
					return math.Min(math.Max(v, float64(tc.lo)), float64(tc.hi))
				}))
			},
		})
	}
	runCases(t, cases)
}

func TestConstants(t *testing.T) {
	c := []float32{1.5, -2, 0.25, 3, -0.125, 7}
	runCases(t, []opCase{
		{
			name: "Constant",
			args: []arg{f32("x", 2, 3)},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				return one(graphs.Add(in[0], b.Constant([]int64{2, 3}, c)))
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				return ref1(reference.Map2(in[0], reference.FromFloat32(c, 2, 3), func(a, b float64) float64 { return a + b }))
			},
		},
		{
			name: "Scalar",
			args: []arg{f32("x", 2, 3)},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				return one(graphs.Mul(in[0], b.Scalar(-0.75)))
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				return ref1(reference.Map(in[0], func(v float64) float64 { return -0.75 * v }))
			},
		},
		{
			name: "ConstantInt64",
			args: []arg{i64("x", -5, 5, 4)},
			build: func(b *graphs.Builder, in []*graphs.Value) []*graphs.Value {
				k := b.ConstantInt64([]int64{4}, []int64{1 << 40, -3, 0, 7})
				return []*graphs.Value{graphs.Add(in[0], k), k}
			},
			ref: func(in []*reference.Tensor) []*reference.Tensor {
				k := reference.FromInt64([]int64{1 << 40, -3, 0, 7}, 4)
				return []*reference.Tensor{reference.Map2(in[0], k, func(a, b float64) float64 { return a + b }), k}
			},
		},
		{
			// The outputs are the constants themselves. (The graph has an
			// unused input: onnxruntime_go panics running a session
			// without inputs.)
			name: "alone",
			args: []arg{f32("unused", 1)},
			build: func(b *graphs.Builder, _ []*graphs.Value) []*graphs.Value {
				return []*graphs.Value{b.Constant([]int64{3, 2}, c), b.Scalar(2.5), b.ConstantInt64(nil, []int64{-9})}
			},
			ref: func([]*reference.Tensor) []*reference.Tensor {
				return []*reference.Tensor{reference.FromFloat32(c, 3, 2), reference.Scalar(2.5), reference.Scalar(-9)}
			},
		},
	})
}

func TestElementwiseBuildErrors(t *testing.T) {
	runBuildErrors(t, []buildErrorCase{
		{"Add/shapes", "Add", func(b *graphs.Builder) {
			graphs.Add(b.Input("x", onnx.Float, 2, 3), b.Input("y", onnx.Float, 2, 4))
		}},
		{"Mul/shapes", "Mul", func(b *graphs.Builder) {
			graphs.Mul(b.Input("x", onnx.Float, 3, 1), b.Input("y", onnx.Float, 2, 1, 4, 2))
		}},
		{"Sub/dtypes", "Sub", func(b *graphs.Builder) {
			graphs.Sub(b.Input("x", onnx.Float, 3), b.Input("y", onnx.Int64, 3))
		}},
		{"Pow/int64", "Pow", func(b *graphs.Builder) {
			x := b.Input("x", onnx.Int64, 3)
			graphs.Pow(x, x)
		}},
		{"Exp/int64", "Exp", func(b *graphs.Builder) { graphs.Exp(b.Input("x", onnx.Int64, 3)) }},
		{"Relu/int64", "Relu", func(b *graphs.Builder) { graphs.Relu(b.Input("x", onnx.Int64, 3)) }}, // no ORT kernel
		{"Add/bool", "Add", func(b *graphs.Builder) {
			x := b.Input("x", onnx.Bool, 3)
			graphs.Add(x, x)
		}},
		{"Less/bool", "Less", func(b *graphs.Builder) {
			x := b.Input("x", onnx.Bool, 3)
			graphs.Less(x, x)
		}},
		{"Not/float", "Not", func(b *graphs.Builder) { graphs.Not(b.Input("x", onnx.Float, 3)) }},
		{"Where/cond", "Where", func(b *graphs.Builder) {
			x := b.Input("x", onnx.Float, 3)
			graphs.Where(x, x, x)
		}},
		{"Where/shapes", "Where", func(b *graphs.Builder) {
			graphs.Where(b.Input("c", onnx.Bool, 3), b.Input("x", onnx.Float, 4), b.Input("y", onnx.Float, 1))
		}},
		{"Equal/shapes", "Equal", func(b *graphs.Builder) {
			graphs.Equal(b.Input("x", onnx.Float, 3), b.Input("y", onnx.Float, 2))
		}},
		{"Clip/bounds", "Clip", func(b *graphs.Builder) { graphs.Clip(b.Input("x", onnx.Float, 3), 1, 0) }},
		{"Constant/size", "Constant", func(b *graphs.Builder) { b.Constant([]int64{2, 2}, []float32{1, 2, 3}) }},
	})
}
