package evaluate_test

import (
	"os"
	"slices"
	"testing"

	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/internal/testenv"
)

// TestLongTailedTestSet: the authors' long-tailed test set is the test
// split long-tailed with the training IR and n_max the head class's 1000
// test images, class c keeping int(1000·IR^(−c/9)) (Fashion-MNIST here,
// the real data set; CIFAR-10's test split has the same 1000 per class).
func TestLongTailedTestSet(t *testing.T) {
	if _, err := os.Stat(data.FashionMNISTDebianDir); err != nil {
		testenv.Missing(t, "Fashion-MNIST not installed (%v): run apt-get install dataset-fashion-mnist", err)
	}
	target := &evaluate.Target{Classes: 10, Image: []int64{1, 28, 28}, Dataset: "fashion-mnist", DataPath: data.FashionMNISTDebianDir}
	for _, tc := range []struct {
		ir   float64
		want []int
	}{
		{10, []int{1000, 774, 599, 464, 359, 278, 215, 166, 129, 100}},
		{100, []int{1000, 599, 359, 215, 129, 77, 46, 27, 16, 10}},
		{1, slices.Repeat([]int{1000}, 10)}, // the balanced test set
	} {
		test, err := evaluate.LoadTestSet(target, evaluate.TestSetOptions{IR: tc.ir, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got := data.ClassCounts(test.Labels, 10); !slices.Equal(got, tc.want) {
			t.Errorf("IR %g: %v images per class, want %v", tc.ir, got, tc.want)
		}
	}
}
