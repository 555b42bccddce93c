// Package eval computes the metrics taet reports from predictions and
// labels: the confusion matrix, per-class recall, balanced accuracy,
// balanced robustness, plain accuracy, the tail-class view of the TAET
// paper's Table 2 and the worst class. It never sees a graph or a runtime:
// the inputs are int64 class indices, so every metric is testable with
// hand-computed tables.
//
// # Definitions
//
// For K classes, truth labels y_i and predictions p_i (i = 1..M), class c
// has support n_c = |{i : y_i = c}| and recall
//
//	R_c = TP_c / (TP_c + FN_c) = |{i : y_i = c, p_i = c}| / n_c      (NaN when n_c = 0)
//
// Balanced accuracy (Brodersen et al., 2010; the TAET paper's Eq. 10) is the
// mean recall over the classes that have test samples,
//
//	BA = (1/|S|)·Σ_{c∈S} R_c,    S = {c : n_c > 0},
//
// so a class absent from the test set is left out of the mean (and listed
// in Report.Excluded) rather than counted as 0 or 1. Balanced robustness
// (Eq. 11) is the same formula applied to the predictions on adversarial
// examples, still grouped by the true class of the clean image: pass the
// attack's predictions as pred. Plain accuracy is Σ_c TP_c / M.
//
// The tail view (Table 2) is the mean recall of the last k classes, the
// rarest ones under the long-tail convention that class 0 is the head:
//
//	Tail(k) = mean{R_c : c ∈ {K−k, …, K−1}, n_c > 0}
//
// and the worst class is argmin_{c∈S} R_c (the lowest index among ties).
//
// # NaN
//
// Undefined quantities are NaN, never 0: the recall of an unsupported class,
// and every mean taken over no class (BA and Accuracy of an empty test set,
// Tail(k) when none of the last k classes has samples). encoding/json
// cannot encode NaN, so a printer must map it (to null, say) itself.
//
// # Panics
//
// Like gonum, the functions panic on programmer errors, with an
// "eval: ..." message: pred and truth of different lengths, a label or a
// prediction outside [0, classes), classes < 1, and Tail(k) with k outside
// [1, classes].
package eval
