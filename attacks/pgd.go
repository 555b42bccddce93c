package attacks

import (
	"fmt"
	"math/rand/v2"
)

// Start is where PGD begins inside the ε-ball.
type Start int

const (
	// StartNone begins at the clean image x.
	StartNone Start = iota
	// StartUniform begins at x + U(−ε, ε), elementwise (Madry et al.;
	// torchattacks' random_start; the PGD of the taet suite).
	StartUniform
	// StartNormal begins at x + 0.001·N(0, 1), elementwise: the start of
	// the TAET authors' training PGD.
	StartNormal
	// StartPositive begins at x + ε·U(0, 1), elementwise: the start of the
	// RoBal authors' training PGD (torch.rand, one-sided).
	StartPositive
)

// NormalStartStd is the standard deviation of StartNormal's noise.
const NormalStartStd = 0.001

var startNames = [...]string{StartNone: "none", StartUniform: "uniform", StartNormal: "normal", StartPositive: "positive"}

// String returns "none", "uniform", "normal" or "positive".
func (s Start) String() string {
	if s < 0 || int(s) >= len(startNames) {
		return fmt.Sprintf("Start(%d)", int(s))
	}
	return startNames[s]
}

// ParseStart returns the Start whose String is s.
func ParseStart(s string) (Start, error) {
	for i, n := range startNames {
		if n == s {
			return Start(i), nil
		}
	}
	return 0, fmt.Errorf("attacks: unknown PGD start %q (valid: none, uniform, normal, positive)", s)
}

// PGD is projected gradient ascent on the oracle's loss in the L∞ ball
// (Madry et al., 2018):
//
//	x⁰ = clip_{[0,1]}(Π_ε(x + start noise))
//	xᵗ⁺¹ = clip_{[0,1]}(Π_ε(xᵗ + α·sign(∇ₓ ℓ(xᵗ))))
//
// with Π_ε the projection onto ‖· − x‖_∞ ≤ ε. The start is clipped too
// (the reference code feeds x + noise to the model unclipped; this keeps
// every oracle input in [0, 1] as the Oracle contract says).
//
// Run is the evaluation attack: an example counts as broken at the first
// iterate (x⁰ … x^Steps, and the clean image) the oracle misclassifies,
// and that iterate is its adversarial example; unbroken examples end on
// x^Steps. Keeping the first misclassified iterate makes more steps never
// weaker than fewer on the same seeds. Perturb is the training attack: it
// returns x^Steps for every example, as the TAET authors' code does.
//
// CW-L∞ (as AT-BSL evaluates it) is PGD with Loss "cw", the oracle binding
// the confidence κ.
type PGD struct {
	// Eps is the L∞ radius ε in [0, 1] pixel units (8/255 for CIFAR).
	Eps float64
	// Alpha is the step size α.
	Alpha float64
	// Steps is the number of gradient steps (0 evaluates the start only).
	Steps int
	// Start selects the starting point.
	Start Start
	// Loss names the oracle loss ascended; "" means "ce".
	Loss string
}

// Name returns "pgd".
func (a PGD) Name() string { return "pgd" }

// Losses returns the oracle loss PGD ascends.
func (a PGD) Losses() []string { return []string{a.loss()} }

func (a PGD) loss() string {
	if a.Loss == "" {
		return "ce"
	}
	return a.Loss
}

// Run attacks one batch; see Attack.Run. It costs Steps oracle calls with
// a gradient and three without (clean, last iterate, verification), or
// two without for StartNone, whose clean call carries the first gradient
// (one more for a ReferenceOracle, whose reference it sets first, see
// Perturb);
// it stops early once every example is broken. It panics on an unknown
// Start.
func (a PGD) Run(set OracleSet, x []float32, y []int64, seeds []uint64) (*Result, error) {
	return a.run(a.Name(), set, x, y, seeds)
}

// run is Run under the name given (FGSM runs as "fgsm").
func (a PGD) run(name string, set OracleSet, x []float32, y []int64, seeds []uint64) (*Result, error) {
	o, err := oracle(name, set, a.loss())
	if err != nil {
		return nil, err
	}
	b := newBatch(name, o, x, y, seeds)
	if err := b.setReference(); err != nil {
		return nil, err
	}
	fromClean := a.Start == StartNone
	if err := b.start(fromClean && a.Steps > 0); err != nil {
		return nil, err
	}
	cur := startPoint(a.Start, a.Eps, x, b.rng)
	project(cur, x, float32(a.Eps)) // every iterate Run keeps is a valid image
	eps, alpha := float32(a.Eps), float32(a.Alpha)
	for step := 0; ; step++ {
		if step > 0 || !fromClean { // at step 0 from the clean image, start has evaluated it
			if err := b.eval(cur, step < a.Steps); err != nil {
				return nil, err
			}
			b.keep(cur)
		}
		if step == a.Steps || b.done() {
			break
		}
		signStep(cur, x, b.grad, alpha, eps)
	}
	for i := range b.n {
		if !b.broken[i] {
			copy(b.row(b.adv, i), b.row(cur, i))
		}
	}
	return b.finish(a.Eps)
}

// Perturb writes the last PGD iterate x^Steps of every example into adv
// [N, C, H, W], using o directly (the trainer's attack: no clean pass, no
// early stop, no verification; Steps oracle calls with a gradient), in the
// authors' (TRADES-style) order: start at x⁰ (see StartPoint), then each
// step x ← clip_[0,1](Π_ε(x + α·sign(∇x loss))); a ReferenceOracle's
// reference is first set to its logits at x (TRADES's attack: one more
// oracle call, without a gradient). The randomness of example
// i comes from seeds[i]. With Steps 0, adv is the start itself. It panics
// on the shape mismatches Attack.Run panics on, if len(adv) != len(x), or
// on an unknown Start.
func (a PGD) Perturb(o Oracle, x []float32, y []int64, seeds []uint64, adv []float32) error {
	b := newBatch(a.Name(), o, x, y, seeds)
	if len(adv) != len(x) {
		panic(fmt.Sprintf("attacks: pgd: adv has %d floats, x %d", len(adv), len(x)))
	}
	copy(adv, a.trainingStart(x, b.rng))
	if a.Steps > 0 {
		if err := b.setReference(); err != nil {
			return err
		}
	}
	for range a.Steps {
		if err := b.eval(adv, true); err != nil {
			return err
		}
		signStep(adv, x, b.grad, float32(a.Alpha), float32(a.Eps))
	}
	return nil
}

// StartPoint returns the starting point x⁰ Perturb begins from for x, each
// example drawing from its seed as Perturb does, so a PGD loop that runs
// elsewhere (inside a graph on a GPU) starts at the same point:
//
//	StartNormal   x + 0.001·N(0, 1), not clipped: the authors' code takes
//	              its first gradient there, even at pixels that leave [0, 1]
//	StartUniform  clip_[0,1](x + U(−ε, ε)), as Madry et al. and torchattacks
//	StartPositive clip_[0,1](x + ε·U(0, 1)), the RoBal authors' training start
//	StartNone     x
//
// (Run projects every start, so that each iterate it keeps is an image.)
func (a PGD) StartPoint(x []float32, seeds []uint64) []float32 {
	return a.trainingStart(x, rngs(a.Name(), seeds))
}

// trainingStart is StartPoint with the generators of the examples.
func (a PGD) trainingStart(x []float32, rng []*rand.Rand) []float32 {
	cur := startPoint(a.Start, a.Eps, x, rng)
	if a.Start != StartNormal {
		project(cur, x, float32(a.Eps))
	}
	return cur
}

// startPoint returns a new [n, d] slice holding x plus PGD's random start
// for s, not projected; row i draws from rng[i].
func startPoint(s Start, eps float64, x []float32, rng []*rand.Rand) []float32 {
	cur := append([]float32(nil), x...)
	if s == StartNone {
		return cur
	}
	d := len(x) / len(rng)
	for i, r := range rng {
		row := cur[i*d : (i+1)*d]
		for j := range row {
			switch s {
			case StartUniform:
				row[j] += float32((2*r.Float64() - 1) * eps)
			case StartNormal:
				row[j] += float32(NormalStartStd * r.NormFloat64())
			case StartPositive:
				row[j] += float32(r.Float64() * eps)
			default:
				panic(fmt.Sprintf("attacks: unknown PGD start %v", s))
			}
		}
	}
	return cur
}

// signStep does cur = clip(Π_ε(cur + α·sign(grad))) in place.
func signStep(cur, x, grad []float32, alpha, eps float32) {
	for j, g := range grad {
		cur[j] += alpha * sign(g)
	}
	project(cur, x, eps)
}

// FGSM is the fast gradient sign method (Goodfellow et al., 2015):
//
//	x' = clip_{[0,1]}(x + ε·sign(∇ₓ ℓ(x)))
//
// PGD with one step of size ε from the clean image; a misclassified clean
// image is its own adversarial example.
type FGSM struct {
	// Eps is the L∞ radius ε.
	Eps float64
	// Loss names the oracle loss; "" means "ce".
	Loss string
}

// Name returns "fgsm".
func (a FGSM) Name() string { return "fgsm" }

// Losses returns the oracle loss FGSM ascends.
func (a FGSM) Losses() []string { return a.pgd().Losses() }

// Run attacks one batch; see Attack.Run. It costs three oracle calls, one
// with a gradient.
func (a FGSM) Run(set OracleSet, x []float32, y []int64, seeds []uint64) (*Result, error) {
	return a.pgd().run(a.Name(), set, x, y, seeds)
}

func (a FGSM) pgd() PGD {
	return PGD{Eps: a.Eps, Alpha: a.Eps, Steps: 1, Start: StartNone, Loss: a.Loss}
}
