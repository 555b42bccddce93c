package eval

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// Report holds the per-class and aggregate metrics of one set of
// predictions (see the package documentation for the formulas).
type Report struct {
	// Classes is K.
	Classes int
	// Support is n_c, the number of samples whose true class is c, [K].
	Support []int
	// Correct is TP_c, the number of samples of class c predicted as c, [K].
	Correct []int
	// Recall is R_c = Correct[c]/Support[c], NaN where Support[c] = 0, [K].
	Recall []float64
	// Balanced is the mean recall over the classes with samples: balanced
	// accuracy on clean predictions, balanced robustness on adversarial
	// ones. NaN if no class has samples.
	Balanced float64
	// Accuracy is Σ_c Correct[c] / Σ_c Support[c]; NaN for no samples.
	Accuracy float64
	// Worst is the lowest recall among the classes with samples, and
	// WorstClass that class (the lowest index among ties); NaN and −1 if no
	// class has samples.
	Worst      float64
	WorstClass int
	// Excluded lists, in increasing order, the classes without samples,
	// which are left out of Balanced, Worst and Tail. It is empty (not nil)
	// when every class has samples.
	Excluded []int
}

// Evaluate returns the metrics of the predictions pred against the true
// labels truth, both [M] with values in [0, classes). It panics if
// len(pred) != len(truth), if classes < 1, or if a label or a prediction
// is out of range.
func Evaluate(pred, truth []int64, classes int) Report {
	checkLabels("Evaluate", pred, truth, classes)
	r := Report{
		Classes:    classes,
		Support:    make([]int, classes),
		Correct:    make([]int, classes),
		Recall:     make([]float64, classes),
		WorstClass: -1,
		Worst:      math.NaN(),
		Excluded:   []int{},
	}
	for i, y := range truth {
		r.Support[y]++
		if pred[i] == y {
			r.Correct[y]++
		}
	}
	var supported []float64
	total, correct := 0, 0
	for c := range classes {
		total += r.Support[c]
		correct += r.Correct[c]
		if r.Support[c] == 0 {
			r.Recall[c] = math.NaN()
			r.Excluded = append(r.Excluded, c)
			continue
		}
		r.Recall[c] = float64(r.Correct[c]) / float64(r.Support[c])
		supported = append(supported, r.Recall[c])
		if r.WorstClass < 0 || r.Recall[c] < r.Worst {
			r.Worst, r.WorstClass = r.Recall[c], c
		}
	}
	r.Balanced = mean(supported)
	r.Accuracy = math.NaN()
	if total > 0 {
		r.Accuracy = float64(correct) / float64(total)
	}
	return r
}

// Tail returns the mean recall of the last k classes, K−k … K−1 (the
// rarest under the long-tail convention that class 0 is the head; the TAET
// paper's Table 2 uses k = 5 on CIFAR-10-LT). Classes without samples are
// left out; the result is NaN if none of the k has samples. It panics if
// k < 1 or k > r.Classes.
func (r Report) Tail(k int) float64 {
	if k < 1 || k > r.Classes {
		panic(fmt.Sprintf("eval: Tail(%d) with %d classes", k, r.Classes))
	}
	var rec []float64
	for c := r.Classes - k; c < r.Classes; c++ {
		if r.Support[c] > 0 {
			rec = append(rec, r.Recall[c])
		}
	}
	return mean(rec)
}

// BalancedAccuracy returns Evaluate(pred, truth, classes).Balanced, the
// mean per-class recall over the classes with samples. It panics as
// Evaluate does.
func BalancedAccuracy(pred, truth []int64, classes int) float64 {
	return Evaluate(pred, truth, classes).Balanced
}

// BalancedRobustness returns the balanced accuracy of the predictions on
// adversarial examples advPred, counted per true class of the clean image
// (the TAET paper's Eq. 11). It is BalancedAccuracy under another name, kept
// so that call sites say which of the two they report. It panics as
// Evaluate does.
func BalancedRobustness(advPred, truth []int64, classes int) float64 {
	return Evaluate(advPred, truth, classes).Balanced
}

// Confusion returns the K×K confusion matrix C with C[t][p] the number of
// samples of true class t predicted as p (rows: truth, columns:
// prediction, as in scikit-learn). Row sums are the supports and the
// diagonal the correct counts. It panics as Evaluate does.
func Confusion(pred, truth []int64, classes int) *mat.Dense {
	checkLabels("Confusion", pred, truth, classes)
	counts := make([]float64, classes*classes)
	for i, y := range truth {
		counts[int(y)*classes+int(pred[i])]++
	}
	return mat.NewDense(classes, classes, counts)
}

// mean returns the arithmetic mean of v, NaN for an empty v.
func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	return stat.Mean(v, nil)
}

// checkLabels panics unless pred and truth have equal lengths and all their
// values lie in [0, classes).
func checkLabels(fn string, pred, truth []int64, classes int) {
	if classes < 1 {
		panic(fmt.Sprintf("eval: %s: %d classes, want ≥ 1", fn, classes))
	}
	if len(pred) != len(truth) {
		panic(fmt.Sprintf("eval: %s: %d predictions for %d labels", fn, len(pred), len(truth)))
	}
	for i := range truth {
		if truth[i] < 0 || truth[i] >= int64(classes) {
			panic(fmt.Sprintf("eval: %s: label %d of sample %d outside [0, %d)", fn, truth[i], i, classes))
		}
		if pred[i] < 0 || pred[i] >= int64(classes) {
			panic(fmt.Sprintf("eval: %s: prediction %d of sample %d outside [0, %d)", fn, pred[i], i, classes))
		}
	}
}
