package attacks

import (
	"context"
	"fmt"
	"math"
)

// DatasetOptions configure RunDataset.
type DatasetOptions struct {
	// First is the index of x's first example in the whole data set, for
	// running a data set in pieces: example i of x gets the seed of example
	// First+i, so the pieces together draw what one run would.
	First int
	// Seed seeds the attack; example i gets Seeds(Seed, First+i, 1)[0] whatever
	// batch it lands in.
	Seed uint64
	// KeepAdv asks for the adversarial images in DatasetResult.Adv.
	KeepAdv bool
	// Context, if not nil, is checked before every oracle call, that is
	// once per attack iteration: when it is done, RunDataset stops and
	// returns an error wrapping Context.Err().
	Context context.Context
	// Progress, if not nil, is called after every batch with the name of
	// the attack running, the examples it has done and the examples it
	// has to do (the clean pass is reported as "clean").
	Progress func(attack string, done, total int)
}

// DatasetResult is the outcome of an attack, or a cascade of attacks, on a
// whole data set of M examples.
type DatasetResult struct {
	// Members are the names of the attacks run in order (one for a single
	// attack).
	Members []string
	// Clean are the predictions on the clean images, [M].
	Clean []int64
	// Pred are the verified predictions on the adversarial examples, [M]:
	// the input of eval.Evaluate for balanced robustness.
	Pred []int64
	// BrokenAt says, for each example, where it fell: 0 if misclassified
	// clean, m+1 if member m broke it, −1 if it is robust.
	BrokenAt []int
	// Adv are the adversarial images [M, C, H, W] (the clean image for a
	// robust example) if DatasetOptions.KeepAdv was set, else nil.
	Adv []float32
	// MaxLinf and MaxL2 are the largest L∞ and L2 distances between an
	// example and its adversarial image (0 for robust and misclassified
	// clean examples).
	MaxLinf, MaxL2 float64
	// Evals counts oracle calls, summed over batches.
	Evals int
}

// After returns the predictions after the clean pass and members 0 … m
// (After(−1) are the clean predictions, After(len(Members)−1) equals
// Pred): the cumulative robust accuracy AutoAttack reports after each
// attack, per example.
func (r *DatasetResult) After(m int) []int64 {
	p := append([]int64(nil), r.Clean...)
	for i, at := range r.BrokenAt {
		if at >= 1 && at <= m+1 {
			p[i] = r.Pred[i]
		}
	}
	return p
}

// RunDataset runs the attack a over the data set x [M, C, H, W], y [M] in
// batches of the oracles' batch size N, padding the last short batch with
// copies of one of its examples whose results are dropped.
//
// It first classifies every clean image; a misclassified one is its own
// adversarial example. A Cascade then runs each member in order on the
// examples still classified correctly, each from the clean image, re-
// batching them into full batches (AutoAttack's protocol); a single attack
// is a cascade of one. Every batch result is verified by the attack
// (ErrUnverified, ErrOutOfBounds), so Pred can be trusted.
//
// Because an example's randomness comes from its index and the attack's
// name only, a cascade is never weaker on an example than any of its
// members run alone with the same seed. It panics if len(x) is not a
// positive multiple of len(y) (for M > 0).
func RunDataset(a Attack, set OracleSet, x []float32, y []int64, o DatasetOptions) (*DatasetResult, error) {
	members := []Attack{a}
	if c, ok := a.(Cascade); ok {
		members = c.Members
	}
	if o.Context != nil {
		set = WithContext(o.Context, set)
	}
	return runCascade(members, set, x, y, Seeds(o.Seed, o.First, len(y)), o.KeepAdv, o.Progress)
}

// WithContext returns set with every oracle checking ctx before each call
// (once per attack iteration): when ctx is done, Eval returns ctx.Err()
// and the attack stops with it.
func WithContext(ctx context.Context, set OracleSet) OracleSet {
	return func(loss string) (Oracle, error) {
		o, err := set(loss)
		if err != nil {
			return nil, err
		}
		return contextOracle{o, ctx}, nil
	}
}

// contextOracle is an Oracle that stops answering once its context is done.
type contextOracle struct {
	Oracle
	ctx context.Context
}

func (o contextOracle) Eval(x []float32, y, target []int64, logits, grad []float32) error {
	if err := o.ctx.Err(); err != nil {
		return err
	}
	return o.Oracle.Eval(x, y, target, logits, grad)
}

// Cascade runs its members one after another, each on the examples the
// previous ones left correctly classified, each from the clean image:
// AutoAttack's ensemble. Run on a batch and RunDataset on a data set give
// the same per-example results for the same seeds.
type Cascade struct {
	// Label is the cascade's name ("autoattack").
	Label string
	// Members are the attacks in the order they run.
	Members []Attack
}

// Name returns c.Label.
func (c Cascade) Name() string { return c.Label }

// Losses returns the oracle losses of the members, each once, in order.
func (c Cascade) Losses() []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range c.Members {
		for _, l := range m.Losses() {
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	return out
}

// Run runs the cascade on one batch; see Attack.Run. Result.Adv holds the
// clean image for the robust examples.
func (c Cascade) Run(set OracleSet, x []float32, y []int64, seeds []uint64) (*Result, error) {
	if len(seeds) != len(y) {
		panic(fmt.Sprintf("attacks: %s: %d seeds for %d labels", c.Label, len(seeds), len(y)))
	}
	r, err := runCascade(c.Members, set, x, y, seeds, true, nil)
	if err != nil {
		return nil, err
	}
	return &Result{Adv: r.Adv, Clean: r.Clean, Pred: r.Pred, MaxLinf: r.MaxLinf, MaxL2: r.MaxL2, Evals: r.Evals}, nil
}

// runCascade is RunDataset and Cascade.Run with explicit per-example
// seeds.
func runCascade(members []Attack, set OracleSet, x []float32, y []int64, seeds []uint64,
	keepAdv bool, progress func(string, int, int)) (*DatasetResult, error) {
	if len(members) == 0 {
		panic("attacks: a cascade without members")
	}
	m := len(y)
	r := &DatasetResult{
		Clean:    make([]int64, m),
		Pred:     make([]int64, m),
		BrokenAt: make([]int, m),
	}
	for _, a := range members {
		r.Members = append(r.Members, a.Name())
	}
	if m == 0 {
		return r, nil
	}
	if len(x) == 0 || len(x)%m != 0 {
		panic(fmt.Sprintf("attacks: %d floats of images for %d labels", len(x), m))
	}
	d := len(x) / m
	if keepAdv {
		r.Adv = append([]float32(nil), x...)
	}
	o, err := oracle("clean", set, members[0].Losses()[0])
	if err != nil {
		return nil, err
	}
	n := o.Batch()
	all := make([]int, m)
	for i := range all {
		all[i] = i
	}
	// The clean pass.
	err = batches(all, n, d, x, y, seeds, func(idx []int, xb []float32, yb []int64, sb []uint64) error {
		b := newBatch("clean", o, xb, yb, sb)
		if err := b.start(false); err != nil {
			return err
		}
		for j, i := range idx {
			r.Clean[i], r.Pred[i] = b.clean[j], b.clean[j]
			r.BrokenAt[i] = -1
			if b.broken[j] {
				r.BrokenAt[i] = 0
			}
		}
		r.Evals += b.evals
		return nil
	}, "clean", progress)
	if err != nil {
		return nil, err
	}
	for k, a := range members {
		var left []int
		for i, at := range r.BrokenAt {
			if at < 0 {
				left = append(left, i)
			}
		}
		err := batches(left, n, d, x, y, seeds, func(idx []int, xb []float32, yb []int64, sb []uint64) error {
			res, err := a.Run(set, xb, yb, sb)
			if err != nil {
				return err
			}
			r.Evals += res.Evals
			for j, i := range idx {
				if res.Pred[j] == y[i] {
					continue
				}
				r.Pred[i], r.BrokenAt[i] = res.Pred[j], k+1
				adv := res.Adv[j*d : (j+1)*d]
				linf, l2, err := distances(adv, x[i*d:(i+1)*d])
				if err != nil {
					return fmt.Errorf("attacks: %s: example %d: %w", a.Name(), i, err)
				}
				r.MaxLinf, r.MaxL2 = math.Max(r.MaxLinf, linf), math.Max(r.MaxL2, l2)
				if keepAdv {
					copy(r.Adv[i*d:(i+1)*d], adv)
				}
			}
			return nil
		}, a.Name(), progress)
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// batches calls fn on the examples idx in full batches of n, the last one
// padded with copies of its first example (fn gets only the real indices;
// the padded rows follow them in xb, yb and sb).
func batches(idx []int, n, d int, x []float32, y []int64, seeds []uint64,
	fn func(idx []int, xb []float32, yb []int64, sb []uint64) error,
	name string, progress func(string, int, int)) error {
	xb, yb, sb := make([]float32, n*d), make([]int64, n), make([]uint64, n)
	for lo := 0; lo < len(idx); lo += n {
		chunk := idx[lo:min(lo+n, len(idx))]
		for j := range n {
			i := chunk[0]
			if j < len(chunk) {
				i = chunk[j]
			}
			copy(xb[j*d:(j+1)*d], x[i*d:(i+1)*d])
			yb[j], sb[j] = y[i], seeds[i]
		}
		if err := fn(chunk, xb, yb, sb); err != nil {
			return fmt.Errorf("batch from example %d: %w", chunk[0], err)
		}
		if progress != nil {
			progress(name, lo+len(chunk), len(idx))
		}
	}
	return nil
}
