package attacks

import (
	"fmt"
	"math"
)

// AllTargets, as APGD.Targets or FAB.Targets, attacks toward every other
// class (K−1 targets), as torchattacks does with n_classes − 1.
const AllTargets = -1

// APGD is Auto-PGD in the L∞ ball (Croce and Hein, 2020), as AutoAttack
// implements it: APGD-CE (Loss "ce"), APGD-DLR (Loss "dlr") or, with
// Targets ≠ 0, APGD-T on the targeted DLR loss toward each of the top
// Targets other classes in turn.
//
// One run, for n_iter = Steps and per example:
//
//	x⁰ = clip_{[0,1]}(x + ε·u/‖u‖_∞),  u ~ U(−1, 1)^D;   η = 2ε
//	z  = Π(xᵗ + η·sign(∇ℓ(xᵗ)))
//	xᵗ⁺¹ = Π(xᵗ + a·(z − xᵗ) + (1 − a)·(xᵗ − xᵗ⁻¹)),   a = 1 at t = 0, else 0.75
//
// (Π: projection onto the ε-ball and [0, 1]). The best point (highest
// loss) and its gradient are tracked. At checkpoints spaced
// p₁ = max(⌊0.22·n_iter⌋, 1) iterations apart first, the spacing then
// shrinking by max(⌊0.03·n_iter⌋, 1) per checkpoint down to
// max(⌊0.06·n_iter⌋, 1), an example halves η and restarts from its best
// point when (1) the loss rose in at most ρ·k of the last k steps (ρ =
// 0.75; before the first step a loss of 0 is compared, as the reference's
// wrap-around reads a zero row) or (2) η was not halved at the previous
// checkpoint and the best loss has not improved since.
//
// Only examples still classified correctly are attacked; the first
// misclassified iterate of any run is the example's result, otherwise it
// keeps the clean image. Targets are ranked by the clean logits: target
// number j (1-based) is the class with the (j+1)-th largest logit, the
// true class being the largest for the examples attacked.
type APGD struct {
	// Eps is the L∞ radius ε.
	Eps float64
	// Steps is n_iter (100 in AutoAttack, 10 in torchattacks' default).
	Steps int
	// Loss is the untargeted loss, "ce" (the default for "") or "dlr";
	// unused when Targets ≠ 0, which uses "dlr-targeted".
	Loss string
	// Targets is 0 for the untargeted attack, n > 0 for APGD-T over the top
	// n other classes (capped at K−1), or AllTargets.
	Targets int
	// Restarts is the number of runs per target (0 means 1).
	Restarts int
	// Rho is the oscillation threshold ρ (0 means 0.75).
	Rho float64
}

// Name returns "apgd-t" for a targeted APGD, else "apgd-ce" or "apgd-dlr".
func (a APGD) Name() string {
	if a.Targets != 0 {
		return "apgd-t"
	}
	return "apgd-" + a.loss()
}

// Losses returns the oracle loss APGD ascends.
func (a APGD) Losses() []string {
	if a.Targets != 0 {
		return []string{"dlr-targeted"}
	}
	return []string{a.loss()}
}

func (a APGD) loss() string {
	if a.Loss == "" {
		return "ce"
	}
	return a.Loss
}

// Run attacks one batch; see Attack.Run. Each run costs Steps + 1 oracle
// calls with a gradient; there are Restarts runs per target, stopping
// early once every example is broken, plus two calls without a gradient.
// It returns an error for a loss other than ce or dlr, for Targets <
// AllTargets, and for too few classes (DLR needs K ≥ 3, targeted DLR
// K ≥ 4).
func (a APGD) Run(set OracleSet, x []float32, y []int64, seeds []uint64) (*Result, error) {
	if a.Targets < AllTargets {
		return nil, fmt.Errorf("attacks: %s: Targets = %d", a.Name(), a.Targets)
	}
	o, err := oracle(a.Name(), set, a.Losses()[0])
	if err != nil {
		return nil, err
	}
	b := newBatch(a.Name(), o, x, y, seeds)
	if err := checkClasses(o.Loss(), b.k); err != nil {
		return nil, fmt.Errorf("attacks: %s: %w", b.attack, err)
	}
	if err := b.start(false); err != nil {
		return nil, err
	}
	runs, order := 1, [][]int(nil)
	if a.Targets != 0 {
		runs, order = targetCount(a.Targets, b.k), rankRows(b)
	}
	for t := range runs {
		if order != nil {
			for i := range b.n {
				b.target[i] = int64(order[i][t+1])
			}
		}
		for range max(a.Restarts, 1) {
			if b.done() {
				break
			}
			if err := a.single(b); err != nil {
				return nil, err
			}
		}
	}
	return b.finish(a.Eps)
}

// targetCount returns how many targets a Targets setting means for K
// classes: K−1 for AllTargets, else min(targets, K−1).
func targetCount(targets, k int) int {
	if targets == AllTargets {
		return k - 1
	}
	return min(targets, k-1)
}

// rankRows returns ranked(clean logits) of every example; b.logits must
// hold the clean logits (right after start).
func rankRows(b *batch) [][]int {
	r := make([][]int, b.n)
	for i := range r {
		r[i] = ranked(b.logits[i*b.k : (i+1)*b.k])
	}
	return r
}

// single is one APGD run on b's current targets, breaking examples as it
// goes.
func (a APGD) single(b *batch) error {
	n, d, steps := b.n, b.d, a.Steps
	rho := a.Rho
	if rho == 0 {
		rho = 0.75
	}
	eps := float32(a.Eps)
	firstCheck := max(int(0.22*float64(steps)), 1)
	minCheck := max(int(0.06*float64(steps)), 1)
	decr := max(int(0.03*float64(steps)), 1)

	xAdv := make([]float32, len(b.x))
	for i := range n {
		xr, ar := b.row(b.x, i), b.row(xAdv, i)
		u := make([]float64, d)
		top := 0.0
		for j := range u {
			u[j] = 2*b.rng[i].Float64() - 1
			top = max(top, math.Abs(u[j]))
		}
		for j := range ar {
			ar[j] = xr[j]
			if top > 0 {
				ar[j] += float32(float64(eps) * u[j] / top)
			}
			ar[j] = min(max(ar[j], 0), 1)
		}
	}
	loss := make([]float64, n)
	evalLoss := func(withKeep bool) error {
		if err := b.eval(xAdv, true); err != nil {
			return err
		}
		if withKeep {
			b.keep(xAdv)
		}
		for i := range n {
			v, err := lossValue(b.o.Loss(), b.logits[i*b.k:(i+1)*b.k], b.y[i], targetOf(b, i))
			if err != nil {
				return fmt.Errorf("attacks: %s: %w", b.attack, err)
			}
			loss[i] = v
		}
		return nil
	}
	if err := evalLoss(true); err != nil {
		return err
	}
	grad := append([]float32(nil), b.grad...)
	xBest := append([]float32(nil), xAdv...)
	gradBest := append([]float32(nil), grad...)
	lossBest := append([]float64(nil), loss...)
	lossBestLast := append([]float64(nil), loss...)
	reducedLast := make([]bool, n)
	step := make([]float32, n)
	for i := range n {
		reducedLast[i] = true
		step[i] = 2 * eps
	}
	xOld := append([]float32(nil), xAdv...)
	lossSteps := make([][]float64, steps)
	k, sinceCheck := firstCheck, 0
	for it := range steps {
		if b.done() {
			break
		}
		mom := float32(0.75)
		if it == 0 {
			mom = 1
		}
		for j := range xAdv {
			i := j / d
			lo, hi := max(b.x[j]-eps, 0), min(b.x[j]+eps, 1)
			z := min(max(xAdv[j]+step[i]*sign(grad[j]), lo), hi)
			next := xAdv[j] + (z-xAdv[j])*mom + (xAdv[j]-xOld[j])*(1-mom)
			xOld[j] = xAdv[j]
			xAdv[j] = min(max(next, lo), hi)
		}
		if err := evalLoss(true); err != nil {
			return err
		}
		copy(grad, b.grad)
		lossSteps[it] = append([]float64(nil), loss...)
		for i := range n {
			if loss[i] > lossBest[i] {
				lossBest[i] = loss[i]
				copy(b.row(xBest, i), b.row(xAdv, i))
				copy(b.row(gradBest, i), b.row(grad, i))
			}
		}
		sinceCheck++
		if sinceCheck < k {
			continue
		}
		for i := range n {
			rises := 0
			for c := range k {
				prev := 0.0
				if it-c-1 >= 0 {
					prev = lossSteps[it-c-1][i]
				}
				if lossSteps[it-c][i] > prev {
					rises++
				}
			}
			oscillating := float64(rises) <= float64(k)*rho
			stalled := !reducedLast[i] && lossBestLast[i] >= lossBest[i]
			reducedLast[i] = oscillating || stalled
			lossBestLast[i] = lossBest[i]
			if reducedLast[i] {
				step[i] /= 2
				copy(b.row(xAdv, i), b.row(xBest, i))
				copy(b.row(grad, i), b.row(gradBest, i))
			}
		}
		sinceCheck, k = 0, max(k-decr, minCheck)
	}
	return nil
}

// targetOf returns example i's target class, or −1 for an untargeted
// loss.
func targetOf(b *batch, i int) int64 {
	if b.target == nil {
		return -1
	}
	return b.target[i]
}
