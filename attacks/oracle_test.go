package attacks_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/internal/testseed"
)

// This file holds the test oracles: classifiers written in Go whose attack
// losses and input gradients are computed analytically, so attack tests
// are exact and fast and need no ONNX Runtime.

// testSeed returns a fixed seed, or TAET_TEST_SEED when set, and logs it
// if the test fails.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	return testseed.Get(t, testseed.Default)
}

// net is a classifier on flat images of d values with k classes: its
// logits at x and the vector–Jacobian product dz ↦ (∂z/∂x)ᵀ dz.
type net interface {
	forward(x []float32) (z []float64, vjp func(dz []float64) []float64)
	dims() (d, k int)
}

// linear is z = W·x + b, W [k, d].
type linear struct {
	d, k int
	w    []float64 // [k, d]
	b    []float64 // [k]
}

func (m *linear) dims() (int, int) { return m.d, m.k }

func (m *linear) forward(x []float32) ([]float64, func([]float64) []float64) {
	z := slices.Clone(m.b)
	for c := range m.k {
		for j := range m.d {
			z[c] += m.w[c*m.d+j] * float64(x[j])
		}
	}
	return z, func(dz []float64) []float64 {
		dx := make([]float64, m.d)
		for c := range m.k {
			for j := range m.d {
				dx[j] += m.w[c*m.d+j] * dz[c]
			}
		}
		return dx
	}
}

// mlp is z = W₂·tanh(W₁·q(x) + b₁) + b₂, with q(x) = round(x·levels)/levels
// when levels > 0 (a step function: its true input gradient is 0 almost
// everywhere, and forward returns that).
type mlp struct {
	d, h, k int
	w1, b1  []float64 // [h, d], [h]
	w2, b2  []float64 // [k, h], [k]
	levels  int
}

func (m *mlp) dims() (int, int) { return m.d, m.k }

func (m *mlp) forward(x []float32) ([]float64, func([]float64) []float64) {
	xq := make([]float64, m.d)
	for j, v := range x {
		xq[j] = float64(v)
		if m.levels > 0 {
			xq[j] = math.Round(xq[j]*float64(m.levels)) / float64(m.levels)
		}
	}
	hid := make([]float64, m.h)
	for u := range m.h {
		s := m.b1[u]
		for j, w := range m.w1[u*m.d : (u+1)*m.d] {
			s += w * xq[j]
		}
		hid[u] = math.Tanh(s)
	}
	z := slices.Clone(m.b2)
	for c := range m.k {
		for u := range m.h {
			z[c] += m.w2[c*m.h+u] * hid[u]
		}
	}
	return z, func(dz []float64) []float64 {
		dx := make([]float64, m.d)
		if m.levels > 0 {
			return dx
		}
		for u := range m.h {
			da := 0.0
			for c := range m.k {
				da += m.w2[c*m.h+u] * dz[c]
			}
			da *= 1 - hid[u]*hid[u]
			for j := range m.d {
				dx[j] += m.w1[u*m.d+j] * da
			}
		}
		return dx
	}
}

func randNormal(rng *rand.Rand, n int, std float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = std * rng.NormFloat64()
	}
	return v
}

func newLinear(rng *rand.Rand, d, k int) *linear {
	return &linear{d: d, k: k, w: randNormal(rng, k*d, 1), b: randNormal(rng, k, 0.1)}
}

func newMLP(rng *rand.Rand, d, h, k int) *mlp {
	return &mlp{d: d, h: h, k: k,
		w1: randNormal(rng, h*d, 3/math.Sqrt(float64(d))), b1: randNormal(rng, h, 0.5),
		w2: randNormal(rng, k*h, 3/math.Sqrt(float64(h))), b2: randNormal(rng, k, 0.1)}
}

// gradMode says what a goOracle returns as the gradient.
type gradMode int

const (
	gradHonest gradMode = iota // the analytic gradient
	gradZero                   // zeros: masked gradients
	gradNoise                  // random values: garbage gradients
)

// goOracle implements attacks.Oracle over a net with the attack losses of
// package losses computed analytically:
//
//	ce               log Σ exp z − z_y
//	cw               min(max_{j≠y} z_j − z_y, κ)
//	dlr              −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e-12)
//	dlr-targeted     −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12)
//	margin-targeted  z_t − z_y
type goOracle struct {
	net   net
	n     int
	loss  string
	kappa float64
	mode  gradMode
	noise *rand.Rand
	calls *int // shared by a set's oracles
}

// oracleSet returns an OracleSet over m with batch size n and the cw
// confidence kappa; calls, if not nil, counts Eval calls.
func oracleSet(m net, n int, kappa float64, mode gradMode, calls *int) attacks.OracleSet {
	if calls == nil {
		calls = new(int)
	}
	return func(loss string) (attacks.Oracle, error) {
		switch loss {
		case "ce", "cw", "dlr", "dlr-targeted", "margin-targeted":
		default:
			return nil, fmt.Errorf("test oracle: unknown loss %q", loss)
		}
		return &goOracle{net: m, n: n, loss: loss, kappa: kappa, mode: mode,
			noise: rand.New(rand.NewPCG(1, 1)), calls: calls}, nil
	}
}

func (o *goOracle) Batch() int   { return o.n }
func (o *goOracle) Loss() string { return o.loss }
func (o *goOracle) Classes() int {
	_, k := o.net.dims()
	return k
}

func (o *goOracle) Eval(x []float32, y, target []int64, logits, grad []float32) error {
	*o.calls++
	d, k := o.net.dims()
	if len(x) != o.n*d || len(y) != o.n || len(logits) != o.n*k || (grad != nil && len(grad) != len(x)) {
		return fmt.Errorf("test oracle: bad shapes")
	}
	if o.loss == "dlr-targeted" || o.loss == "margin-targeted" {
		if len(target) != o.n {
			return fmt.Errorf("test oracle: %s needs targets", o.loss)
		}
	}
	if need := map[string]int{"dlr": 3, "dlr-targeted": 4}[o.loss]; k < need {
		return fmt.Errorf("test oracle: %s needs %d classes", o.loss, need)
	}
	for i := range o.n {
		z, vjp := o.net.forward(x[i*d : (i+1)*d])
		for c := range k {
			logits[i*k+c] = float32(z[c])
		}
		if grad == nil {
			continue
		}
		var t int64
		if target != nil {
			t = target[i]
		}
		_, dz := lossAndGrad(o.loss, o.kappa, z, y[i], t)
		g := grad[i*d : (i+1)*d]
		switch o.mode {
		case gradHonest:
			for j, v := range vjp(dz) {
				g[j] = float32(v)
			}
		case gradZero:
			clear(g)
		case gradNoise:
			for j := range g {
				g[j] = float32(o.noise.NormFloat64())
			}
		}
	}
	return nil
}

// lossAndGrad returns the loss named at logits z and its gradient in z.
func lossAndGrad(loss string, kappa float64, z []float64, y, t int64) (float64, []float64) {
	k := len(z)
	dz := make([]float64, k)
	order := make([]int, k)
	for j := range order {
		order[j] = j
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case z[a] > z[b]:
			return -1
		case z[a] < z[b]:
			return 1
		}
		return 0
	})
	other := -1
	for j := range k {
		if int64(j) != y && (other < 0 || z[j] > z[other]) {
			other = j
		}
	}
	switch loss {
	case "ce":
		top := z[order[0]]
		s := 0.0
		for _, v := range z {
			s += math.Exp(v - top)
		}
		for j, v := range z {
			dz[j] = math.Exp(v-top) / s
		}
		dz[y]--
		return top + math.Log(s) - z[y], dz
	case "cw":
		m := z[other] - z[y]
		if m < kappa {
			dz[other], dz[y] = 1, -1
			return m, dz
		}
		return kappa, dz
	case "dlr":
		u, s := z[other]-z[y], z[order[0]]-z[order[2]]+1e-12
		dz[other] += 1 / s
		dz[y] -= 1 / s
		dz[order[0]] -= u / (s * s)
		dz[order[2]] += u / (s * s)
		return u / s, dz
	case "dlr-targeted":
		u, s := z[t]-z[y], z[order[0]]-(z[order[2]]+z[order[3]])/2+1e-12
		dz[t] += 1 / s
		dz[y] -= 1 / s
		dz[order[0]] -= u / (s * s)
		dz[order[2]] += u / (2 * s * s)
		dz[order[3]] += u / (2 * s * s)
		return u / s, dz
	case "margin-targeted":
		dz[t]++
		dz[y]--
		return z[t] - z[y], dz
	}
	panic("unknown loss " + loss)
}

// lyingOracle wraps an Oracle and shifts the logits of calls that ask for
// a gradient so that every example looks misclassified; calls without a
// gradient (the verification) are honest.
type lyingOracle struct{ attacks.Oracle }

func (o lyingOracle) Eval(x []float32, y, target []int64, logits, grad []float32) error {
	if err := o.Oracle.Eval(x, y, target, logits, grad); err != nil {
		return err
	}
	if grad != nil {
		k := o.Classes()
		for i, c := range y {
			logits[i*k+int((c+1)%int64(k))] += 1e6
		}
	}
	return nil
}

// dataset draws m images of d values uniform in [0, 1], a tenth of them
// pixels exactly 0 or 1, labelled by the net's clean prediction except for
// every wrong-th example (0: none), which gets a wrong label.
func dataset(rng *rand.Rand, m net, count, wrong int) ([]float32, []int64) {
	d, k := m.dims()
	x := make([]float32, count*d)
	for j := range x {
		switch u := rng.Float64(); {
		case u < 0.05:
			x[j] = 0
		case u < 0.1:
			x[j] = 1
		default:
			x[j] = float32(rng.Float64())
		}
	}
	y := make([]int64, count)
	for i := range y {
		z, _ := m.forward(x[i*d : (i+1)*d])
		y[i] = int64(argmax64(z))
		if wrong > 0 && i%wrong == wrong-1 {
			y[i] = (y[i] + 1) % int64(k)
		}
	}
	return x, y
}

func argmax64(v []float64) int {
	best := 0
	for j := range v {
		if v[j] > v[best] {
			best = j
		}
	}
	return best
}

// robust counts the examples whose adversarial prediction is the label.
func robust(pred, y []int64) int {
	n := 0
	for i := range y {
		if pred[i] == y[i] {
			n++
		}
	}
	return n
}

// TestOracleGradients checks the test oracle's analytic gradients against
// central differences of its losses, on both nets, away from kinks.
func TestOracleGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	const d, k = 12, 6
	nets := map[string]net{"linear": newLinear(rng, d, k), "mlp": newMLP(rng, d, 8, k)}
	for _, name := range []string{"linear", "mlp"} {
		m := nets[name]
		for _, loss := range []string{"ce", "cw", "dlr", "dlr-targeted", "margin-targeted"} {
			t.Run(name+"/"+loss, func(t *testing.T) {
				set := oracleSet(m, 1, 50, gradHonest, nil)
				o, err := set(loss)
				if err != nil {
					t.Fatal(err)
				}
				// Stay away from kinks and from a tiny DLR denominator:
				// every two logits at least 0.2 apart.
				x := make([]float32, d)
				for try := 0; ; try++ {
					for j := range x {
						x[j] = float32(0.2 + 0.6*rng.Float64())
					}
					z, _ := m.forward(x)
					if minGap(z) > 0.2 {
						break
					}
					if try == 1000 {
						t.Fatal("no input with well-separated logits")
					}
				}
				y, tg := []int64{1}, []int64{3}
				grad, logits := make([]float32, d), make([]float32, k)
				if err := o.Eval(x, y, tg, logits, grad); err != nil {
					t.Fatal(err)
				}
				value := func(x []float32) float64 {
					z, _ := m.forward(x)
					v, _ := lossAndGrad(loss, 50, z, y[0], tg[0])
					return v
				}
				const h = 1e-3
				for j := range x {
					xp, xm := slices.Clone(x), slices.Clone(x)
					xp[j] += h
					xm[j] -= h
					num := (value(xp) - value(xm)) / (2 * h)
					if math.Abs(num-float64(grad[j])) > 1e-3+1e-2*math.Abs(num) {
						t.Errorf("∂ℓ/∂x[%d]: analytic %g, numeric %g", j, grad[j], num)
					}
				}
			})
		}
	}
}

// minGap returns the smallest distance between two entries of z.
func minGap(z []float64) float64 {
	s := slices.Clone(z)
	slices.Sort(s)
	g := math.Inf(1)
	for i := 1; i < len(s); i++ {
		g = min(g, s[i]-s[i-1])
	}
	return g
}
