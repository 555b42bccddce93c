// Package gradtest checks gradient graphs against finite differences on
// ONNX Runtime. It is used by the tests of graphs, losses and models.
//
// Both checks weight the function's output y with a fixed random cotangent
// r and differentiate the scalar
//
//	L(x) = Σ_i r_i · y_i
//
// (a plain sum hides bugs: the gradient of Σ softmax(x) is zero). L is
// accumulated in float64 on the Go side from the float32 outputs, so the
// finite differences see only the rounding of y, not of a float32 sum.
//
// Inputs are drawn from N(0, 1) with a fixed seed, mapped through
// Input.Transform for restricted domains. The seed is logged on failure and
// can be overridden with TAET_TEST_SEED. Any NaN or Inf, on either side, is a
// failure. Both checks skip, not fail, when ONNX Runtime is not available.
package gradtest

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/testseed"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/ort"
	"gonum.org/v1/gonum/diff/fd"
)

// Input describes one input of the function under test.
type Input struct {
	Name  string
	Shape []int64
	// Transform maps each N(0,1) draw into the input's domain (e.g. |x|+1 for Sqrt).
	Transform func(float64) float64
	// Values, when set, are used instead of random draws.
	Values []float32
	// Labels > 0 makes this an int64 input with values uniform in [0, Labels);
	// int64 inputs never get a gradient.
	Labels int64
	// NoGrad excludes a float input from differentiation.
	NoGrad bool
}

// Spec is an elementwise check: every element of every differentiable input
// is perturbed in turn, so keep the inputs small.
type Spec struct {
	Inputs []Input
	// Build returns the value to differentiate (any float32 shape).
	Build func(in []*graphs.Value) *graphs.Value
	// Step is the central-difference step (default 1e-3).
	Step float64
	// Atol and Rtol bound |analytic − numeric| ≤ Atol + Rtol·|numeric|
	// (defaults 1e-3 and 1e-2, ONNX Runtime's float32 numbers plus a relative term).
	Atol, Rtol float64
}

// Seed returns the test seed: TAET_TEST_SEED if set, else def.
func Seed(t testing.TB, def uint64) uint64 {
	t.Helper()
	return testseed.Get(t, def)
}

const defaultSeed = 20250611

// Check compares the analytic gradient of L with central finite differences
// (gonum's fd.Gradient), element by element, for every differentiable input.
// It then rebuilds the gradient graph with each differentiable input in turn
// marked as not needing a gradient and checks the others' gradients do not
// change (rules that consult Node.IfNeeded must not depend on it for values).
func Check(t testing.TB, s Spec) {
	t.Helper()
	ortest.Init(t)
	seed := Seed(t, defaultSeed)
	h := newHarness(t, s.Inputs, s.Build, seed, nil)
	defer h.close()
	step := or(s.Step, 1e-3)
	atol, rtol := or(s.Atol, 1e-3), or(s.Rtol, 1e-2)
	for k, i := range h.gradIdx {
		in := h.in[i]
		x0 := toF64(in.Data())
		num := fd.Gradient(nil, func(x []float64) float64 {
			copy64(in.Data(), x)
			return h.loss(t)
		}, x0, &fd.Settings{Formula: fd.Central, Step: step})
		copy64(in.Data(), x0)
		ana := h.analytic[k]
		for j := range num {
			a, n := float64(ana[j]), num[j]
			if bad(a) || bad(n) {
				t.Fatalf("seed %d: input %s[%d]: analytic %v, numeric %v: not finite", seed, s.Inputs[i].Name, j, a, n)
			}
			if math.Abs(a-n) > atol+rtol*math.Abs(n) {
				t.Fatalf("seed %d: input %s[%d] (shape %v): analytic %.6g, numeric %.6g (|diff| %.3g > %.3g)",
					seed, s.Inputs[i].Name, j, s.Inputs[i].Shape, a, n, math.Abs(a-n), atol+rtol*math.Abs(n))
			}
		}
	}
	// Each input in turn without a gradient: the others must not change.
	if len(h.gradIdx) < 2 {
		return
	}
	for skip := range h.gradIdx {
		h2 := newHarness(t, s.Inputs, s.Build, seed, &h.gradIdx[skip])
		for k2, i2 := range h2.gradIdx {
			k := slices.Index(h.gradIdx, i2)
			for j := range h2.analytic[k2] {
				a, b := h.analytic[k][j], h2.analytic[k2][j]
				if math.Abs(float64(a-b)) > 1e-5+1e-5*math.Abs(float64(a)) {
					t.Errorf("seed %d: gradient of %s[%d] is %v with all inputs differentiated, %v without %s",
						seed, s.Inputs[i2].Name, j, a, b, s.Inputs[h.gradIdx[skip]].Name)
					break
				}
			}
		}
		h2.close()
	}
}

// DirSpec is a directional check for whole models: too many inputs for an
// element-by-element check.
type DirSpec struct {
	Inputs  []Input
	Build   func(in []*graphs.Value) *graphs.Value
	Repeats int     // random directions (default 3)
	Eps     float64 // step along the direction (default 1e-3)
	Atol    float64 // default 1e-3
	Rtol    float64 // default 2e-2
}

// Directional draws unit-variance directions v over all differentiable
// inputs and compares ⟨∇L(x), v⟩ with (L(x+εv) − L(x−εv))/2ε, as JAX's
// check_grads does.
func Directional(t testing.TB, s DirSpec) {
	t.Helper()
	ortest.Init(t)
	seed := Seed(t, defaultSeed)
	h := newHarness(t, s.Inputs, s.Build, seed, nil)
	defer h.close()
	rng := rand.New(rand.NewPCG(seed, 1))
	eps := or(s.Eps, 1e-3)
	atol, rtol := or(s.Atol, 1e-3), or(s.Rtol, 2e-2)
	repeats := s.Repeats
	if repeats == 0 {
		repeats = 3
	}
	for rep := range repeats {
		var dirs [][]float64
		var base [][]float64
		analytic := 0.0
		for k, i := range h.gradIdx {
			x := h.in[i].Data()
			v := make([]float64, len(x))
			for j := range v {
				v[j] = rng.NormFloat64()
				analytic += float64(h.analytic[k][j]) * v[j]
			}
			dirs, base = append(dirs, v), append(base, toF64(x))
		}
		at := func(sign float64) float64 {
			for k, i := range h.gradIdx {
				x := h.in[i].Data()
				for j := range x {
					x[j] = float32(base[k][j] + sign*eps*dirs[k][j])
				}
			}
			return h.loss(t)
		}
		numeric := (at(1) - at(-1)) / (2 * eps)
		at(0)
		if bad(analytic) || bad(numeric) {
			t.Fatalf("seed %d, direction %d: analytic %v, numeric %v: not finite", seed, rep, analytic, numeric)
		}
		if math.Abs(analytic-numeric) > atol+rtol*math.Abs(numeric) {
			t.Fatalf("seed %d, direction %d: ⟨∇L, v⟩ = %.6g, finite difference %.6g", seed, rep, analytic, numeric)
		}
	}
}

// harness holds a forward session (y only) and the analytic gradients.
type harness struct {
	in       []*ort.Tensor[float32] // nil for int64 inputs
	all      []ort.Value
	fwd      *ort.Session
	y        *ort.Tensor[float32]
	r        []float64 // the cotangent
	gradIdx  []int     // inputs that get a gradient
	analytic [][]float32
}

// newHarness builds y = build(inputs), draws the inputs and the cotangent
// from seed, and computes the analytic gradients of L with respect to every
// float input not marked NoGrad, except input *skip when skip is not nil.
func newHarness(t testing.TB, inputs []Input, build func([]*graphs.Value) *graphs.Value, seed uint64, skip *int) *harness {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	h := &harness{in: make([]*ort.Tensor[float32], len(inputs))}
	var feeds []ortest.Tensor
	for i, in := range inputs {
		n := int64(1)
		for _, d := range in.Shape {
			n *= d
		}
		if in.Labels > 0 {
			lab := make([]int64, n)
			for j := range lab {
				lab[j] = rng.Int64N(in.Labels)
			}
			feeds = append(feeds, ortest.I64(lab, in.Shape...))
			v, err := ort.NewTensor(in.Shape, lab)
			must(t, err)
			h.all = append(h.all, v)
			continue
		}
		x := make([]float32, n)
		for j := range x {
			v := rng.NormFloat64()
			if in.Transform != nil {
				v = in.Transform(v)
			}
			x[j] = float32(v)
		}
		if in.Values != nil {
			copy(x, in.Values)
		}
		feeds = append(feeds, ortest.F32(x, in.Shape...))
		v, err := ort.NewTensor(in.Shape, x)
		must(t, err)
		h.in[i] = v
		h.all = append(h.all, v)
		if !in.NoGrad && (skip == nil || *skip != i) {
			h.gradIdx = append(h.gradIdx, i)
		}
	}
	var yShape []int64
	fwd, err := graphs.Build("gradtest-forward", func(b *graphs.Builder) {
		y := build(declare(b, inputs))
		if y.Rank() == 0 { // the runtime wrapper preallocates rank ≥ 1 outputs only
			y = graphs.Reshape(y, 1)
		}
		yShape = y.Shape()
		b.Output("gradtest_y", y)
	})
	must(t, err)
	h.r = make([]float64, prod(yShape))
	rf := make([]float32, len(h.r))
	for j := range h.r {
		rf[j] = float32(rng.NormFloat64())
		h.r[j] = float64(rf[j])
	}
	gradModel, err := graphs.Build("gradtest-grad", func(b *graphs.Builder) {
		vals := declare(b, inputs)
		y := graphs.Reshape(build(vals), yShape...)
		l := graphs.ReduceSum(graphs.Mul(y, b.Constant(yShape, rf)), nil, false)
		var wrt []*graphs.Value
		for _, i := range h.gradIdx {
			wrt = append(wrt, vals[i])
		}
		for k, g := range graphs.Grad(l, wrt) {
			b.Output(inputs[h.gradIdx[k]].Name+"_grad", g)
		}
	})
	must(t, err)
	outs := ortest.Run(t, gradModel, feeds...)
	for _, o := range outs {
		h.analytic = append(h.analytic, o.F)
	}
	bytes, err := fwd.Bytes()
	must(t, err)
	h.fwd, err = ort.NewSession(bytes, fwd.InputNames(), fwd.OutputNames(), ort.Options{Threads: 1})
	must(t, err)
	h.y, err = ort.NewZeros[float32](yShape...)
	must(t, err)
	return h
}

// loss runs the forward session and returns Σ r·y in float64.
func (h *harness) loss(t testing.TB) float64 {
	if err := h.fwd.Run(h.all, []ort.Value{h.y}); err != nil {
		t.Fatalf("forward: %v", err)
	}
	s := 0.0
	for j, y := range h.y.Data() {
		s += h.r[j] * float64(y)
	}
	return s
}

func (h *harness) close() {
	for _, v := range h.all {
		v.Close()
	}
	if h.fwd != nil {
		h.fwd.Close()
	}
	if h.y != nil {
		h.y.Close()
	}
}

func declare(b *graphs.Builder, inputs []Input) []*graphs.Value {
	vals := make([]*graphs.Value, len(inputs))
	for i, in := range inputs {
		dt := onnx.Float
		if in.Labels > 0 {
			dt = onnx.Int64
		}
		vals[i] = b.Input(in.Name, dt, in.Shape...)
	}
	return vals
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func or(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func bad(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

func prod(s []int64) int64 {
	n := int64(1)
	for _, d := range s {
		n *= d
	}
	return n
}

func toF64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func copy64(dst []float32, src []float64) {
	for i, v := range src {
		dst[i] = float32(v)
	}
}
