package evaluate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/eval"
	"github.com/taet-ml/taet/internal/atomicfile"
	"github.com/taet-ml/taet/internal/boundedfile"
	"github.com/taet-ml/taet/internal/runlock"
)

// Runner attacks a test set with a list of attacks, one batch at a time,
// and can be interrupted and resumed: after every batch the predictions so
// far go into the state file (atomically), and a later Run with the same
// target, test set, seed and batch size continues where it stopped. An
// example's randomness depends only on the seed and its index, so a resumed
// evaluation gives exactly the results of an uninterrupted one.
type Runner struct {
	Target  *Target
	Test    *data.Dataset
	Attacks []attacks.Spec
	// Seed seeds the attacks' random starts.
	Seed uint64
	// Batch is the number of images between two saves of the state file
	// (without one, Run attacks the whole set at once): the target's batch
	// size (a multiple wastes nothing, a divisor pads).
	Batch int
	// State is the resumable state file; "" keeps the state in memory.
	State string
	// Progress, if not nil, is called after every batch.
	Progress func(Progress)
}

// Progress reports a finished batch.
type Progress struct {
	Attack      string
	Done, Total int     // images finished of the attack, including resumed ones
	Resumed     int     // of Done, images taken from the saved state
	Seconds     float64 // time spent on the attack in this run: (Done − Resumed)/Seconds images per second
}

// Result is one attack's outcome (or the clean pass's, named "clean").
type Result struct {
	Attack string
	eval.Report
	MaxLinf, MaxL2 float64 // largest perturbation found
	Seconds        float64 // attack time, summed over the runs that made it
	Resumed        int     // images whose result came from the saved state, not this run
}

// Results are a Run's outcome: the clean pass, then the attacks in order.
type Results struct {
	Clean   Result
	Attacks []Result
	// StateErr is the first error locking or saving the state file (a
	// read-only or full disk): the results are complete, but a rerun
	// starts over. After it, Run keeps the state in memory only.
	StateErr error
}

// state is the resumable part of an evaluation: the predictions of every
// finished batch of every attack, under a key of what was asked.
type state struct {
	Key     string              `json:"key"`
	Clean   []int64             `json:"clean"`
	Attacks map[string]*partial `json:"attacks"`
}

// partial is one attack's progress.
type partial struct {
	Config  string  `json:"config"` // the attack's settings; other settings start over
	Done    int     `json:"done"`   // examples finished
	Pred    []int64 `json:"pred"`
	MaxLinf float64 `json:"max_linf"`
	MaxL2   float64 `json:"max_l2"`
	Seconds float64 `json:"seconds"`
}

// Run attacks r.Test with every attack in turn. When ctx is cancelled it
// stops within one attack iteration, keeps the finished batches in the
// state file and returns an error wrapping ctx.Err().
//
// The state file is single-writer: Run holds the lock State+".lock" and
// fails at once with an error wrapping ErrLocked while another process
// holds it. A state file that cannot be locked or written otherwise is no
// reason to lose the evaluation: Run goes on and reports it in StateErr.
func (r *Runner) Run(ctx context.Context) (*Results, error) {
	if r.Batch < 1 {
		return nil, fmt.Errorf("evaluate: batch %d: must be positive", r.Batch)
	}
	if err := r.Target.Check(r.Attacks); err != nil {
		return nil, err
	}
	res := &Results{}
	saving := r.State != ""
	if saving {
		lock, err := runlock.Acquire(r.State + ".lock")
		switch {
		case errors.Is(err, ErrLocked):
			return nil, fmt.Errorf("evaluation state %w", err)
		case err != nil:
			res.StateErr, saving = err, false
		default:
			defer lock.Release()
		}
	}
	st, err := r.load()
	if err != nil {
		return nil, err
	}
	test, d := r.Test, r.Test.ImageSize()
	for _, spec := range r.Attacks {
		cfg := fmt.Sprintf("%T%+v", spec.Attack, spec.Attack)
		p := st.Attacks[spec.Name]
		if p == nil || p.Config != cfg {
			p = &partial{Config: cfg}
			st.Attacks[spec.Name] = p
		}
		resumed, seconds := p.Done, 0.0
		oracles := r.Target.Oracles(spec.Kappa)
		for p.Done < test.N {
			start := time.Now()
			end := min(p.Done+r.chunk(), test.N)
			out, err := attacks.RunDataset(spec.Attack, oracles, test.Images[p.Done*d:end*d], test.Labels[p.Done:end],
				attacks.DatasetOptions{Seed: r.Seed, First: p.Done, Context: ctx})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", spec.Name, err)
			}
			if len(st.Clean) == p.Done {
				st.Clean = append(st.Clean, out.Clean...)
			}
			p.Pred = append(p.Pred, out.Pred...)
			p.Done = end
			p.MaxLinf, p.MaxL2 = max(p.MaxLinf, out.MaxLinf), max(p.MaxL2, out.MaxL2)
			took := time.Since(start).Seconds()
			p.Seconds += took
			seconds += took
			if saving {
				if err := r.save(st); err != nil {
					res.StateErr, saving = err, false
				}
			}
			if r.Progress != nil {
				r.Progress(Progress{Attack: spec.Name, Done: p.Done, Total: test.N, Resumed: resumed, Seconds: seconds})
			}
		}
		res.Attacks = append(res.Attacks, Result{Attack: spec.Name, Report: eval.Evaluate(p.Pred, test.Labels, r.Target.Classes),
			MaxLinf: p.MaxLinf, MaxL2: p.MaxL2, Seconds: p.Seconds, Resumed: resumed})
	}
	if len(st.Clean) == test.N {
		res.Clean = Result{Attack: "clean", Report: eval.Evaluate(st.Clean, test.Labels, r.Target.Classes)}
	}
	return res, nil
}

// chunk is how many images one RunDataset call attacks: a batch between
// two saves of the state file, or, with no file to save, the whole test set
// at once, so that the examples left to attack (those classified correctly)
// fill whole batches instead of one partial batch per chunk: with a clean
// accuracy of 40% that halves the attack's oracle calls.
func (r *Runner) chunk() int {
	if r.State == "" {
		return r.Test.N
	}
	return r.Batch
}

// key identifies what a state belongs to: the target, the test images and
// labels, the seed and the batch size.
func (r *Runner) key() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%d|%d|", r.Target.Identity, r.Seed, r.Batch)
	binary.Write(h, binary.LittleEndian, r.Test.Images) // a hash.Hash never fails to write
	binary.Write(h, binary.LittleEndian, r.Test.Labels)
	return hex.EncodeToString(h.Sum(nil))
}

// StateCap is the size of the largest state file Run reads: the
// predictions of ten attacks on 50,000 images take about 1 MiB.
const StateCap = 64 << 20

// load returns the saved state if it belongs to this evaluation, else a
// fresh one; a state file over StateCap is an error wrapping
// boundedfile.ErrTooLarge (not read, and not overwritten).
func (r *Runner) load() (*state, error) {
	if r.State == "" {
		return &state{Attacks: map[string]*partial{}}, nil
	}
	st := &state{Key: r.key(), Attacks: map[string]*partial{}}
	b, err := boundedfile.ReadFile(r.State, StateCap, "an evaluation state")
	if errors.Is(err, boundedfile.ErrTooLarge) {
		return nil, err
	} else if err != nil {
		return st, nil
	}
	var saved state
	if json.Unmarshal(b, &saved) != nil || saved.Key != st.Key || saved.Attacks == nil {
		return st, nil
	}
	return &saved, nil
}

// ErrLocked is wrapped by Run's error when another process is running an
// evaluation with the same state file.
var ErrLocked = runlock.ErrLocked

func (r *Runner) save(st *state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(r.State, b); err != nil {
		return fmt.Errorf("save evaluation state: %w", err)
	}
	return nil
}
