package attacks

import "math"

// CWL2 is the Carlini–Wagner L2 attack (Carlini and Wagner, 2017) with a
// fixed constant c, as torchattacks.CW runs it. Each image is
// reparametrised in tanh space, x'(w) = (tanh(w) + 1)/2 ∈ [0, 1], and Adam
// minimises, per example,
//
//	J(w) = ‖x'(w) − x‖₂² + c·f(x'(w)),    f = max(z_y − max_{j≠y} z_j, −κ)
//
// from w⁰ = atanh(2x − 1) (with 2x − 1 clamped to ±(1 − 1e-6) so that w⁰
// is finite). The gradient combines the oracle's and the L2 term's:
// the "cw" oracle returns ∇ₓ(−f) summed over the batch (package losses'
// CW, min(max_{j≠y} z_j − z_y, κ)), so
//
//	∇_w J = (2(x' − x) − c·∇ₓ(−f)) ⊙ (1 − tanh²(w))/2.
//
// Among the iterates the oracle misclassifies, each example keeps the one
// with the smallest L2 distance; an example never misclassified keeps x.
// There is no ε: the result is checked against [0, 1] only, and
// Result.MaxL2 reports the largest distance.
//
// Early stop follows torchattacks, per example rather than per batch (so
// that an example's result does not depend on its batch): every
// max(Steps/10, 1) steps, an example whose J grew since the last such
// check stops moving. torchattacks' f masks the true logit to 0 instead of
// −∞ when taking max_{j≠y} z_j; the oracle's f does not.
type CWL2 struct {
	// C is the constant c weighing f against the L2 distance (10 in the
	// taet suite).
	C float64
	// Kappa is the confidence κ ≥ 0. The "cw" oracle must bind the same κ;
	// CWL2 uses it for the value of J in the early-stop test.
	Kappa float64
	// Steps is the number of Adam steps (100 in the taet suite).
	Steps int
	// LR is Adam's learning rate (0.01 in the taet suite); β₁ = 0.9,
	// β₂ = 0.999 and ε̂ = 1e-8 are PyTorch's defaults.
	LR float64
}

// Name returns "cw-l2".
func (a CWL2) Name() string { return "cw-l2" }

// Losses returns "cw".
func (a CWL2) Losses() []string { return []string{"cw"} }

// Run attacks one batch; see Attack.Run. It costs Steps oracle calls with
// a gradient and two without.
func (a CWL2) Run(set OracleSet, x []float32, y []int64, seeds []uint64) (*Result, error) {
	o, err := oracle(a.Name(), set, "cw")
	if err != nil {
		return nil, err
	}
	b := newBatch(a.Name(), o, x, y, seeds)
	if err := b.start(false); err != nil {
		return nil, err
	}
	const (
		beta1, beta2, adamEps = 0.9, 0.999, 1e-8
		atanhClamp            = 1 - 1e-6
	)
	w := make([]float64, len(x))
	m := make([]float64, len(x))
	v := make([]float64, len(x))
	for j, xv := range x {
		w[j] = math.Atanh(min(max(2*float64(xv)-1, -atanhClamp), atanhClamp))
	}
	cur := make([]float32, len(x))
	bestL2 := make([]float64, b.n)
	prevCost := make([]float64, b.n)
	stopped := make([]bool, b.n)
	for i := range b.n {
		bestL2[i], prevCost[i] = math.Inf(1), math.Inf(1)
		stopped[i] = b.broken[i] // misclassified clean: x is its adversarial example
	}
	checkEvery := max(a.Steps/10, 1)
	for step := range a.Steps {
		for j, wv := range w {
			cur[j] = float32((math.Tanh(wv) + 1) / 2)
		}
		if err := b.eval(cur, true); err != nil {
			return nil, err
		}
		t := float64(step + 1)
		all := true
		for i := range b.n {
			if stopped[i] {
				continue
			}
			all = false
			xr, cr := b.row(x, i), b.row(cur, i)
			l2 := 0.0
			for j := range cr {
				dv := float64(cr[j]) - float64(xr[j])
				l2 += dv * dv
			}
			z := b.logits[i*b.k : (i+1)*b.k]
			if b.pred(i) != b.y[i] && l2 < bestL2[i] {
				bestL2[i] = l2
				b.broken[i] = true
				copy(b.row(b.adv, i), cr)
			}
			if step%checkEvery == 0 {
				f := max(margin(z, b.y[i]), -a.Kappa)
				cost := l2 + a.C*f
				if cost > prevCost[i] {
					stopped[i] = true
					continue
				}
				prevCost[i] = cost
			}
			gr := b.row(b.grad, i)
			for j := range cr {
				jj := i*b.d + j
				th := math.Tanh(w[jj])
				g := (2*(float64(cr[j])-float64(xr[j])) - a.C*float64(gr[j])) * (1 - th*th) / 2
				m[jj] = beta1*m[jj] + (1-beta1)*g
				v[jj] = beta2*v[jj] + (1-beta2)*g*g
				mHat := m[jj] / (1 - math.Pow(beta1, t))
				vHat := v[jj] / (1 - math.Pow(beta2, t))
				w[jj] -= a.LR * mHat / (math.Sqrt(vHat) + adamEps)
			}
		}
		if all {
			break
		}
	}
	return b.finish(-1)
}
