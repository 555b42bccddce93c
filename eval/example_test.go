package eval_test

import (
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/taet-ml/taet/eval"
)

// A long-tailed test set of 3 classes plus a class with no test samples.
// Plain accuracy is carried by the head class; balanced accuracy weighs
// every class with samples equally and leaves class 3 out.
func ExampleEvaluate() {
	truth := []int64{0, 0, 0, 0, 0, 0, 1, 1, 1, 2}
	clean := []int64{0, 0, 0, 0, 0, 0, 1, 1, 0, 2}
	adv := []int64{0, 0, 0, 1, 0, 3, 1, 0, 0, 1} // predictions under attack

	r := eval.Evaluate(clean, truth, 4)
	fmt.Printf("recall %.3f\n", r.Recall)
	fmt.Printf("accuracy %.3f, balanced accuracy %.3f, excluded %v\n", r.Accuracy, r.Balanced, r.Excluded)

	a := eval.Evaluate(adv, truth, 4)
	fmt.Printf("balanced robustness %.3f, worst class %d (%.3f), tail(2) %.3f\n",
		a.Balanced, a.WorstClass, a.Worst, a.Tail(2))
	// Output:
	// recall [1.000 0.667 1.000 NaN]
	// accuracy 0.900, balanced accuracy 0.889, excluded [3]
	// balanced robustness 0.333, worst class 2 (0.000), tail(2) 0.000
}

func ExampleConfusion() {
	truth := []int64{0, 0, 1, 1, 2}
	pred := []int64{0, 1, 1, 1, 0}
	fmt.Printf("%v\n", mat.Formatted(eval.Confusion(pred, truth, 3)))
	// Output:
	// ⎡1  1  0⎤
	// ⎢0  2  0⎥
	// ⎣1  0  0⎦
}
