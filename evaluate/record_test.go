package evaluate

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/taet-ml/taet/internal/boundedfile"
)

// TestRecordRoundTripKeepsNaNRecall saves and loads a record whose tail
// class has no test samples: its recall and the tail recall are NaN.
func TestRecordRoundTripKeepsNaNRecall(t *testing.T) {
	rec := Record{Format: RecordFormat, Model: "resnet18", Dataset: "fashion-mnist", TestIR: 10, Images: 3, Eps: 0.1,
		TailClasses: 1, TrainCounts: []int{5, 1},
		Results: []AttackRecord{{Attack: "clean", Balanced: 0.5, Recall: []float64{1, math.NaN()}, TailRecall: math.NaN(), Support: []int{3, 0}, Excluded: []int{1}}}}
	path := filepath.Join(t.TempDir(), RecordDir, "r.json") // Save makes the directory
	if err := rec.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadRecord(path)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(got.Results[0].Recall[1]) || got.Results[0].Recall[0] != 1 || !math.IsNaN(got.Results[0].TailRecall) {
		t.Fatalf("recall %v, tail recall %v, want [1 NaN] and NaN", got.Results[0].Recall, got.Results[0].TailRecall)
	}
	got.Results[0].Recall, rec.Results[0].Recall = nil, nil
	got.Results[0].TailRecall, rec.Results[0].TailRecall = 0, 0
	if !reflect.DeepEqual(got, rec) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, rec)
	}
}

func TestLoadRecordRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	if err := (Record{Format: "other"}).Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRecord(path); err == nil {
		t.Error("a record of another format was read")
	}
}

// TestLoadRecordChecksNumbers loads records with one number out of range
// each: every one is refused, naming the file and the field.
func TestLoadRecordChecksNumbers(t *testing.T) {
	good := func() Record {
		return Record{Format: RecordFormat, Model: "resnet18", Dataset: "fashion-mnist", TestIR: 1, Images: 4, Eps: 0.03, TailClasses: 1,
			Results: []AttackRecord{{Attack: "clean", Balanced: 0.5, Accuracy: 0.5, Recall: []float64{1, 0}, Support: []int{2, 2}, TailRecall: 0, Seconds: 1},
				{Attack: "fgsm", Balanced: 0.25, Accuracy: 0.25, Recall: []float64{0.5, 0}, Support: []int{2, 2}, MaxLinf: 0.03, MaxL2: 0.5, Seconds: 2}}}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	if err := good().Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRecord(path); err != nil {
		t.Fatalf("a good record: %v", err)
	}
	for _, tc := range []struct {
		field string
		edit  func(r *Record)
	}{
		{"balanced_robustness", func(r *Record) { r.Results[1].Balanced = -5 }},
		{"balanced_robustness", func(r *Record) { r.Results[0].Balanced = 42 }},
		{"accuracy", func(r *Record) { r.Results[1].Accuracy = 1e308 }},
		{"per_class_recall[1]", func(r *Record) { r.Results[1].Recall[1] = 1.5 }},
		{"seconds", func(r *Record) { r.Results[1].Seconds = 1e308 }},
		{"max_l2", func(r *Record) { r.Results[1].MaxL2 = -1 }},
		{"max_linf", func(r *Record) { r.Results[1].MaxLinf = 2 }},
		{"support[0]", func(r *Record) { r.Results[0].Support[0] = -1 }},
		{"per_class_recall, ", func(r *Record) { r.Results[1].Recall = r.Results[1].Recall[:1] }},
		{"test_ir", func(r *Record) { r.TestIR = 0 }},
		{"tail_classes", func(r *Record) { r.TailClasses = 3 }},
		{"worst_class", func(r *Record) { r.Results[0].WorstClass = 2 }},
	} {
		r := good()
		tc.edit(&r)
		if err := r.Save(path); err != nil {
			t.Fatal(err)
		}
		_, err := LoadRecord(path)
		if !errors.Is(err, ErrRecord) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s out of range: %v; want ErrRecord naming %s and the field", tc.field, err, path)
		}
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, RecordCap+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRecord(big); !errors.Is(err, boundedfile.ErrTooLarge) || !errors.Is(err, ErrRecord) {
		t.Errorf("a record over the cap: %v, want ErrTooLarge", err)
	}
}

func TestRecordOf(t *testing.T) {
	r := Record{Checkpoint: "a/checkpoint.safetensors", Identity: "abc"}
	if err := r.Of("abc"); err != nil {
		t.Errorf("own record: %v", err)
	}
	if err := r.Of("def"); !errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), "a/checkpoint.safetensors") {
		t.Errorf("another run's record: %v, want ErrForeign naming its checkpoint", err)
	}
	if err := (Record{}).Of("def"); err != nil {
		t.Errorf("a record without identity: %v, want it accepted", err)
	}
}
