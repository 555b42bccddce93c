package evaluate

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/internal/atomicfile"
)

// RecordFormat names the layout of a Record file.
const RecordFormat = "taet-eval/1"

// RecordDir is the directory of a run directory that holds its evaluation
// records, one <label>.json per evaluation (what `taetctl report` reads).
const RecordDir = "eval"

// Record is an evaluation as it is stored and reported: what was attacked,
// on which test set, and every attack's per-class outcome.
type Record struct {
	Format      string   `json:"format"` // RecordFormat
	Checkpoint  string   `json:"checkpoint"`
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
	rec := Record{Format: RecordFormat, Model: tgt.Model, Dataset: test.Name, TestIR: ir, Images: test.N,
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

// LoadRecord reads a record that Save wrote.
func LoadRecord(path string) (Record, error) {
	var r Record
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: not an evaluation record: %w", path, err)
	}
	if r.Format != RecordFormat {
		return r, fmt.Errorf("%s: format %q, want %q (written by taetctl eval --record or taetctl sweep)", path, r.Format, RecordFormat)
	}
	if len(r.Results) == 0 {
		return r, fmt.Errorf("%s: no results", path)
	}
	return r, nil
}
