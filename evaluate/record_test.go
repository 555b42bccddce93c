package evaluate

import (
	"math"
	"path/filepath"
	"reflect"
	"testing"
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
