package evaluate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/internal/atomicfile"
	"github.com/taet-ml/taet/internal/boundedfile"
)

// RecordFormat names the layout of a Record file.
const RecordFormat = "taet-eval/1"

// RecordDir is the directory of a run directory that holds its evaluation
// records, one <label>.json per evaluation (what `taetctl report` reads).
const RecordDir = "eval"

// Record is an evaluation as it is stored and reported: what was attacked,
// on which test set, and every attack's per-class outcome.
type Record struct {
	Format     string `json:"format"` // RecordFormat
	Checkpoint string `json:"checkpoint"`
	// Identity is the evaluated target's Identity: the checkpoint's tensor
	// checksum (checkpoint.State.SHA256), or an ONNX file's SHA-256. It
	// tells a run's own record from one copied from another run (Of).
	// Records written before taet recorded it have none.
	Identity    string   `json:"identity,omitempty"`
	Model       string   `json:"model"`
	Dataset     string   `json:"dataset"`
	TestIR      float64  `json:"test_ir"` // 1: the test set as is (balanced)
	Images      int      `json:"images"`
	Eps         float64  `json:"eps"`
	Seed        uint64   `json:"seed"`
	TailClasses int      `json:"tail_classes"` // classes in each AttackRecord's TailRecall: the last ones
	ClassNames  []string `json:"class_names,omitempty"`
	TrainCounts []int    `json:"train_counts,omitempty"` // training images per class, if known
	// Results are the clean pass ("clean") and then each attack in order.
	Results []AttackRecord `json:"results"`
}

// AttackRecord is one attack's outcome (or the clean pass's).
type AttackRecord struct {
	Attack     string    `json:"attack"`
	Balanced   float64   `json:"balanced_robustness"` // mean per-class recall; balanced accuracy for "clean"
	Accuracy   float64   `json:"accuracy"`
	Worst      float64   `json:"worst_class_recall"`
	WorstClass int       `json:"worst_class"`
	TailRecall float64   `json:"tail_recall"`      // mean recall of the last Record.TailClasses classes; NaN (null) if none has samples
	Recall     []float64 `json:"per_class_recall"` // NaN (null in JSON) for classes without samples
	Support    []int     `json:"support"`
	Excluded   []int     `json:"excluded_classes,omitempty"`
	MaxLinf    float64   `json:"max_linf"`
	MaxL2      float64   `json:"max_l2"`
	Seconds    float64   `json:"seconds"`
	Resumed    int       `json:"resumed_images"` // taken from a saved state, not attacked in this run
}

// DefaultTail is the number of classes in the tail view when none is
// asked: a third of k, at least one.
func DefaultTail(k int) int { return max(1, k/3) }

// NewRecord returns the record of res, the outcome of attacking test
// against tgt, with the tail view over the last tail classes (0:
// DefaultTail). The caller fills in Checkpoint and Eps.
func NewRecord(res *Results, tgt *Target, test *data.Dataset, ir float64, seed uint64, tail int) Record {
	if tail == 0 {
		tail = DefaultTail(tgt.Classes)
	}
	tail = min(tail, tgt.Classes)
	rec := Record{Format: RecordFormat, Identity: tgt.Identity, Model: tgt.Model, Dataset: test.Name, TestIR: ir, Images: test.N,
		Seed: seed, TailClasses: tail, ClassNames: tgt.ClassNames, TrainCounts: tgt.TrainCounts}
	for _, r := range append([]Result{res.Clean}, res.Attacks...) {
		rec.Results = append(rec.Results, AttackRecord{Attack: r.Attack, Balanced: r.Balanced, Accuracy: r.Accuracy,
			Worst: r.Worst, WorstClass: r.WorstClass, TailRecall: r.Tail(tail), Recall: r.Recall,
			Support: r.Support, Excluded: r.Excluded, MaxLinf: r.MaxLinf, MaxL2: r.MaxL2, Seconds: r.Seconds, Resumed: r.Resumed})
	}
	return rec
}

// MarshalJSON writes NaN recalls as null (JSON has no NaN): a class
// without samples, and the tail recall when no tail class has any.
func (r AttackRecord) MarshalJSON() ([]byte, error) {
	type plain AttackRecord
	recall := make([]*float64, len(r.Recall))
	for i := range r.Recall {
		recall[i] = nullNaN(&r.Recall[i])
	}
	p := plain(r)
	p.Recall, p.TailRecall = nil, 0
	return json.Marshal(struct {
		plain
		TailRecall *float64   `json:"tail_recall"`
		Recall     []*float64 `json:"per_class_recall"`
	}{p, nullNaN(&r.TailRecall), recall})
}

// nullNaN returns nil for a NaN, else x.
func nullNaN(x *float64) *float64 {
	if math.IsNaN(*x) {
		return nil
	}
	return x
}

// UnmarshalJSON reads null recalls as NaN.
func (r *AttackRecord) UnmarshalJSON(b []byte) error {
	type plain AttackRecord
	var v struct {
		plain
		TailRecall *float64   `json:"tail_recall"`
		Recall     []*float64 `json:"per_class_recall"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = AttackRecord(v.plain)
	r.TailRecall = orNaN(v.TailRecall)
	r.Recall = make([]float64, len(v.Recall))
	for i, x := range v.Recall {
		r.Recall[i] = orNaN(x)
	}
	return nil
}

// orNaN returns *x, or NaN for nil.
func orNaN(x *float64) float64 {
	if x == nil {
		return math.NaN()
	}
	return *x
}

// Save writes the record to path atomically, creating its directory (a
// run's RecordDir does not exist before its first record).
func (r Record) Save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'))
}

// RecordCap is the size of the largest record LoadRecord reads: a record
// of 1000 classes and ten attacks takes about 0.5 MiB.
const RecordCap = 64 << 20

// ErrRecord is wrapped by LoadRecord's errors about a file that is not a
// valid record (not those about reading it: a missing file is
// fs.ErrNotExist).
var ErrRecord = errors.New("not a valid evaluation record")

// LoadRecord reads a record that Save wrote, of at most RecordCap bytes
// (else an error wrapping boundedfile.ErrTooLarge), and checks it (Check).
func LoadRecord(path string) (Record, error) {
	var r Record
	b, err := boundedfile.ReadFile(path, RecordCap, "an evaluation record")
	if errors.Is(err, boundedfile.ErrTooLarge) {
		return r, fmt.Errorf("%w: %w", ErrRecord, err)
	} else if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%w: %s: %w", ErrRecord, path, err)
	}
	if r.Format != RecordFormat {
		return r, fmt.Errorf("%w: %s: format %q, want %q (written by taetctl eval --record or taetctl sweep)", ErrRecord, path, r.Format, RecordFormat)
	}
	if err := r.Check(); err != nil {
		return r, fmt.Errorf("%w: %s: %w", ErrRecord, path, err)
	}
	return r, nil
}

// Bounds of a record's numbers that are not fractions: an attack's time
// (about 32 years) and its L2 distance (the diameter of [0, 1]^d for
// images of d = 10⁸ values). A larger number is not a measurement, and
// sums of such numbers overflow.
const (
	MaxSeconds = 1e9
	MaxL2      = 1e4
)

// Check returns an error naming the first field of r that no evaluation
// can give: no results; a recall, accuracy, balanced robustness or L∞
// distance outside [0, 1] or not finite (NaN only where a class has no
// samples: a recall, the tail recall); an L2 distance or a time negative
// or over MaxL2 or MaxSeconds; counts that are negative or disagree with
// the classes.
func (r Record) Check() error {
	if len(r.Results) == 0 {
		return errors.New("no results")
	}
	if !(r.TestIR >= 1) || math.IsInf(r.TestIR, 0) || !(r.Eps >= 0 && r.Eps <= 1) || r.Images < 0 {
		return fmt.Errorf("test_ir %v, eps %v, images %d: want a ratio ≥ 1, a radius in [0, 1] and a count ≥ 0", r.TestIR, r.Eps, r.Images)
	}
	classes := len(r.Results[0].Recall)
	if r.TailClasses < 0 || r.TailClasses > classes || (r.ClassNames != nil && len(r.ClassNames) != classes) || (r.TrainCounts != nil && len(r.TrainCounts) != classes) {
		return fmt.Errorf("tail_classes %d, %d class_names, %d train_counts: want at most, and exactly, the %d classes of per_class_recall", r.TailClasses, len(r.ClassNames), len(r.TrainCounts), classes)
	}
	for _, n := range r.TrainCounts {
		if n < 0 {
			return fmt.Errorf("train_counts: %d: want counts ≥ 0", n)
		}
	}
	for i, a := range r.Results {
		if err := a.check(classes); err != nil {
			return fmt.Errorf("results[%d] (%s): %w", i, a.Attack, err)
		}
	}
	return nil
}

// check checks one attack's numbers (Record.Check) for classes classes.
func (a AttackRecord) check(classes int) error {
	unit := func(field string, x float64, nan bool) error {
		if (nan && math.IsNaN(x)) || (x >= 0 && x <= 1) {
			return nil
		}
		return fmt.Errorf("%s %v: want a number in [0, 1]", field, x)
	}
	for _, f := range []struct {
		name string
		x    float64
		nan  bool
	}{{"balanced_robustness", a.Balanced, false}, {"accuracy", a.Accuracy, false}, {"worst_class_recall", a.Worst, false},
		{"tail_recall", a.TailRecall, true}, {"max_linf", a.MaxLinf, false}} {
		if err := unit(f.name, f.x, f.nan); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name   string
		x, max float64
	}{{"max_l2", a.MaxL2, MaxL2}, {"seconds", a.Seconds, MaxSeconds}} {
		if !(f.x >= 0 && f.x <= f.max) {
			return fmt.Errorf("%s %v: want a number in [0, %g]", f.name, f.x, f.max)
		}
	}
	if len(a.Recall) != classes || len(a.Support) != classes {
		return fmt.Errorf("%d per_class_recall, %d support: want one per class, %d", len(a.Recall), len(a.Support), classes)
	}
	for c, x := range a.Recall {
		if err := unit(fmt.Sprintf("per_class_recall[%d]", c), x, true); err != nil {
			return err
		}
		if a.Support[c] < 0 {
			return fmt.Errorf("support[%d] %d: want a count ≥ 0", c, a.Support[c])
		}
	}
	if a.WorstClass < 0 || a.WorstClass >= classes || a.Resumed < 0 {
		return fmt.Errorf("worst_class %d, resumed_images %d: want a class of the %d and a count ≥ 0", a.WorstClass, a.Resumed, classes)
	}
	return nil
}

// ErrForeign is wrapped by Of's error about a record of another target.
var ErrForeign = errors.New("the record of another checkpoint")

// Of returns nil if r is the record of the target with identity (a
// checkpoint's State.SHA256; Target.Identity), or records no identity; else
// an error wrapping ErrForeign: a record copied or linked from another run,
// or one made before the checkpoint changed.
func (r Record) Of(identity string) error {
	if r.Identity == "" || r.Identity == identity {
		return nil
	}
	return fmt.Errorf("%w (%s, identity %.12s…; this one is %.12s…): copied from another run? remove it and evaluate again", ErrForeign, r.Checkpoint, r.Identity, identity)
}
