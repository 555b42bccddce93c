package attacks

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
)

// Tolerance is the slack of the ε check: |adv − x| ≤ ε + Tolerance. x ± ε
// is computed in float32, whose rounding near 1 is about 6e-8.
const Tolerance = 1e-6

// Errors an attack returns when its own result fails a check. Both mean a
// bug in the attack or a nondeterministic oracle; test them with errors.Is.
var (
	// ErrOutOfBounds: an adversarial image leaves [0, 1] (or is NaN), or
	// its L∞ distance from the clean image exceeds ε + Tolerance.
	ErrOutOfBounds = errors.New("adversarial example out of bounds")
	// ErrUnverified: an example the attack found misclassified is
	// classified correctly when the returned batch is evaluated again.
	ErrUnverified = errors.New("adversarial example not misclassified when re-evaluated")
)

// Attack is one configured adversarial attack. Run attacks one batch of
// exactly Oracle.Batch() images; RunDataset runs it over a whole data set.
type Attack interface {
	// Name returns the attack's name as flags and JSON spell it ("pgd",
	// "apgd-t", …). Together with the per-example seeds it selects the
	// random streams, so two configurations with one name (PGD-20 and
	// PGD-100) draw the same random start for the same example.
	Name() string
	// Losses returns the names of the oracle losses Run asks set for.
	Losses() []string
	// Run attacks the batch x [N, C, H, W] with labels y [N], drawing the
	// randomness of example i from seeds[i] only, so an example's result
	// does not depend on the rest of the batch (given an oracle whose
	// per-example loss depends on that example alone, as the summed
	// attack losses do). It panics if len(y) or len(seeds) is not the
	// oracle's batch size N or len(x) is not a positive multiple of N,
	// and returns oracle errors, ErrOutOfBounds and ErrUnverified.
	Run(set OracleSet, x []float32, y []int64, seeds []uint64) (*Result, error)
}

// Result is the outcome of an attack on one batch.
type Result struct {
	// Adv is the adversarial batch, [N, C, H, W]. Where the attack failed
	// it holds what the attack ended on (the last PGD iterate, the clean
	// image for the AutoAttack members), which is classified correctly.
	Adv []float32
	// Clean are the predictions on the clean images, [N].
	Clean []int64
	// Pred are the predictions at Adv, [N], from a fresh evaluation of Adv
	// after the attack: example i is robust iff Pred[i] == y[i].
	Pred []int64
	// MaxLinf and MaxL2 are max_i ‖Adv_i − x_i‖_∞ and max_i ‖Adv_i − x_i‖_2.
	MaxLinf, MaxL2 float64
	// Evals counts oracle calls (with or without a gradient), the clean
	// and verification passes included.
	Evals int
}

// Seeds returns the seeds of examples first, first+1, …, first+n−1 of a
// data set attacked with seed: a fixed mix (SplitMix64's finaliser) of
// seed and the example's index. RunDataset uses it, so an example keeps
// its seed whatever batch it lands in.
func Seeds(seed uint64, first, n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = splitmix(seed ^ splitmix(uint64(first+i)))
	}
	return s
}

// splitmix is the finaliser of SplitMix64.
func splitmix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// rngs returns one PCG generator per example, rand.NewPCG(seeds[i],
// FNV-1a(attack)).
func rngs(attack string, seeds []uint64) []*rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(attack))
	stream := h.Sum64()
	r := make([]*rand.Rand, len(seeds))
	for i, s := range seeds {
		r[i] = rand.New(rand.NewPCG(s, stream))
	}
	return r
}

// oracle returns set(loss), with the attack's name on an error.
func oracle(attack string, set OracleSet, loss string) (Oracle, error) {
	o, err := set(loss)
	if err != nil {
		return nil, fmt.Errorf("attacks: %s: oracle for loss %q: %w", attack, loss, err)
	}
	return o, nil
}

// targeted reports whether the loss named takes target classes.
func targeted(loss string) bool { return strings.HasSuffix(loss, "-targeted") }

// batch is the state every attack shares: the clean batch, the oracle's
// buffers, and the adversarial examples found so far. An example is
// "broken" once adv holds an image at which the oracle's logits put it in
// a wrong class; finish re-evaluates adv and checks those claims.
type batch struct {
	attack  string
	o       Oracle
	n, d, k int
	x       []float32 // [n, d] clean images
	y       []int64   // [n]
	target  []int64   // [n] target classes of a targeted loss (y until set), else nil
	rng     []*rand.Rand
	logits  []float32 // [n, k] of the last eval
	grad    []float32 // [n, d] of the last eval with a gradient
	clean   []int64   // [n] predictions at x (set by start)
	adv     []float32 // [n, d], x until an example is broken
	broken  []bool    // [n]
	evals   int
}

// newBatch checks the shapes against o and returns the state of an attack
// named attack on x, y. It panics on a shape mismatch.
func newBatch(attack string, o Oracle, x []float32, y []int64, seeds []uint64) *batch {
	n, k := o.Batch(), o.Classes()
	if len(y) != n || len(seeds) != n || len(x) == 0 || len(x)%n != 0 {
		panic(fmt.Sprintf("attacks: %s: %d images (%d floats), %d labels, %d seeds for an oracle batch of %d",
			attack, len(x)/max(n, 1), len(x), len(y), len(seeds), n))
	}
	for i, c := range y {
		if c < 0 || c >= int64(k) {
			panic(fmt.Sprintf("attacks: %s: label %d of example %d outside [0, %d)", attack, c, i, k))
		}
	}
	b := &batch{
		attack: attack, o: o, n: n, d: len(x) / n, k: k,
		x: x, y: y, rng: rngs(attack, seeds),
		logits: make([]float32, n*k),
		grad:   make([]float32, len(x)),
		clean:  make([]int64, n),
		adv:    append([]float32(nil), x...),
		broken: make([]bool, n),
	}
	if targeted(o.Loss()) {
		b.target = append([]int64(nil), y...)
	}
	return b
}

// row returns row i of a [n, d] slice.
func (b *batch) row(v []float32, i int) []float32 { return v[i*b.d : (i+1)*b.d] }

// eval evaluates the oracle at `at` into b.logits and, if withGrad, b.grad.
func (b *batch) eval(at []float32, withGrad bool) error {
	var g []float32
	if withGrad {
		g = b.grad
	}
	b.evals++
	if err := b.o.Eval(at, b.y, b.target, b.logits, g); err != nil {
		return fmt.Errorf("attacks: %s: %w", b.attack, err)
	}
	return nil
}

// pred returns the class the last eval's logits give example i (the first
// index among ties, like torch.argmax).
func (b *batch) pred(i int) int64 {
	return int64(argmax(b.logits[i*b.k : (i+1)*b.k]))
}

// setReference sets a ReferenceOracle's reference to its logits at the
// clean batch (one call without a gradient); other oracles need none.
func (b *batch) setReference() error {
	r, ok := b.o.(ReferenceOracle)
	if !ok {
		return nil
	}
	if err := b.eval(b.x, false); err != nil {
		return err
	}
	r.SetReference(b.logits)
	return nil
}

// start evaluates the clean batch (with the gradient if withGrad), records
// the clean predictions and marks the misclassified examples broken: they
// need no attack, and their adversarial example is x itself.
func (b *batch) start(withGrad bool) error {
	if err := b.eval(b.x, withGrad); err != nil {
		return err
	}
	for i := range b.n {
		b.clean[i] = b.pred(i)
		b.broken[i] = b.clean[i] != b.y[i]
	}
	return nil
}

// keep marks broken every example not yet broken that the last eval, at
// `at`, misclassifies, and copies its row of `at` into adv.
func (b *batch) keep(at []float32) {
	for i := range b.n {
		if !b.broken[i] && b.pred(i) != b.y[i] {
			b.broken[i] = true
			copy(b.row(b.adv, i), b.row(at, i))
		}
	}
}

// done reports whether every example is broken.
func (b *batch) done() bool {
	for _, br := range b.broken {
		if !br {
			return false
		}
	}
	return true
}

// finish checks b.adv, re-evaluates it and returns the Result. eps < 0
// skips the L∞ budget (CW-L2 has none); [0, 1] is always checked.
func (b *batch) finish(eps float64) (*Result, error) {
	r := &Result{Adv: b.adv, Clean: b.clean, Pred: make([]int64, b.n)}
	for i := range b.n {
		linf, l2, err := distances(b.row(b.adv, i), b.row(b.x, i))
		if err != nil {
			return nil, fmt.Errorf("attacks: %s: example %d: %w", b.attack, i, err)
		}
		if eps >= 0 && linf > eps+Tolerance {
			return nil, fmt.Errorf("attacks: %s: example %d: %w: L∞ distance %g > ε = %g",
				b.attack, i, ErrOutOfBounds, linf, eps)
		}
		r.MaxLinf, r.MaxL2 = max(r.MaxLinf, linf), max(r.MaxL2, l2)
	}
	if err := b.eval(b.adv, false); err != nil {
		return nil, err
	}
	for i := range b.n {
		r.Pred[i] = b.pred(i)
		if b.broken[i] && r.Pred[i] == b.y[i] {
			return nil, fmt.Errorf("attacks: %s: example %d (label %d): %w", b.attack, i, b.y[i], ErrUnverified)
		}
	}
	r.Evals = b.evals
	return r, nil
}

// distances returns ‖a − x‖_∞ and ‖a − x‖_2, or an error wrapping
// ErrOutOfBounds if an element of a is outside [0, 1] or NaN.
func distances(a, x []float32) (linf, l2 float64, err error) {
	for j, v := range a {
		if !(v >= 0 && v <= 1) {
			return 0, 0, fmt.Errorf("%w: pixel %d = %v outside [0, 1]", ErrOutOfBounds, j, v)
		}
		dv := math.Abs(float64(v) - float64(x[j]))
		linf = max(linf, dv)
		l2 += dv * dv
	}
	return linf, math.Sqrt(l2), nil
}

// argmax returns the index of the largest element of v, the first among
// ties.
func argmax(v []float32) int {
	best := 0
	for j, z := range v {
		if z > v[best] {
			best = j
		}
	}
	return best
}

// project clamps cur into the L∞ ball of radius eps around x and into
// [0, 1], elementwise: cur = clip(cur, max(0, x−ε), min(1, x+ε)).
func project(cur, x []float32, eps float32) {
	for j, v := range cur {
		lo, hi := max(x[j]-eps, 0), min(x[j]+eps, 1)
		cur[j] = min(max(v, lo), hi)
	}
}

// sign returns the sign of g as −1, 0 or 1 (0 for NaN, which torch.sign
// would propagate).
func sign(g float32) float32 {
	switch {
	case g > 0:
		return 1
	case g < 0:
		return -1
	}
	return 0
}
