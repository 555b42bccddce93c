package eval_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/taet-ml/taet/eval"
	"github.com/taet-ml/taet/internal/testseed"
)

// nan marks an expected NaN in the tables below.
var nan = math.NaN()

// sameFloat reports whether a and b are both NaN or within 1e-12.
func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-12
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameFloat(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestEvaluate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		pred, truth []int64
		classes     int
		want        eval.Report
		tail        map[int]float64 // k → Tail(k)
	}{
		{
			// Class 3 has no test samples: NaN recall, excluded from the means.
			// Recalls 2/3, 1/2, 3/4 → BA = (2/3+1/2+3/4)/3 = 23/36.
			name:    "class without samples",
			truth:   []int64{0, 0, 0, 1, 1, 2, 2, 2, 2},
			pred:    []int64{0, 1, 0, 1, 3, 2, 2, 0, 2},
			classes: 4,
			want: eval.Report{
				Classes:  4,
				Support:  []int{3, 2, 4, 0},
				Correct:  []int{2, 1, 3, 0},
				Recall:   []float64{2.0 / 3, 0.5, 0.75, nan},
				Balanced: 23.0 / 36, Accuracy: 6.0 / 9,
				Worst: 0.5, WorstClass: 1,
				Excluded: []int{3},
			},
			tail: map[int]float64{1: nan, 2: 0.75, 3: (0.5 + 0.75) / 2, 4: 23.0 / 36},
		},
		{
			// Long-tailed: accuracy is dominated by the head class, balanced
			// accuracy is not. Recalls 9/10, 1/3, 0/1 → BA = (0.9+1/3+0)/3.
			name:    "long tail",
			truth:   []int64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2},
			pred:    []int64{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0},
			classes: 3,
			want: eval.Report{
				Classes:  3,
				Support:  []int{10, 3, 1},
				Correct:  []int{9, 1, 0},
				Recall:   []float64{0.9, 1.0 / 3, 0},
				Balanced: (0.9 + 1.0/3) / 3, Accuracy: 10.0 / 14,
				Worst: 0, WorstClass: 2,
				Excluded: []int{},
			},
			tail: map[int]float64{1: 0, 2: 1.0 / 6},
		},
		{
			// Ties for the worst class go to the lowest index.
			name:    "tied worst",
			truth:   []int64{0, 0, 1, 1, 2, 2},
			pred:    []int64{0, 1, 1, 0, 2, 2},
			classes: 3,
			want: eval.Report{
				Classes:  3,
				Support:  []int{2, 2, 2},
				Correct:  []int{1, 1, 2},
				Recall:   []float64{0.5, 0.5, 1},
				Balanced: 2.0 / 3, Accuracy: 4.0 / 6,
				Worst: 0.5, WorstClass: 0,
				Excluded: []int{},
			},
			tail: map[int]float64{1: 1},
		},
		{
			name:    "empty",
			classes: 2,
			want: eval.Report{
				Classes:  2,
				Support:  []int{0, 0},
				Correct:  []int{0, 0},
				Recall:   []float64{nan, nan},
				Balanced: nan, Accuracy: nan,
				Worst: nan, WorstClass: -1,
				Excluded: []int{0, 1},
			},
			tail: map[int]float64{2: nan},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := eval.Evaluate(tc.pred, tc.truth, tc.classes)
			w := tc.want
			if got.Classes != w.Classes || !reflect.DeepEqual(got.Support, w.Support) ||
				!reflect.DeepEqual(got.Correct, w.Correct) || !reflect.DeepEqual(got.Excluded, w.Excluded) {
				t.Errorf("counts: got classes %d support %v correct %v excluded %v, want %d %v %v %v",
					got.Classes, got.Support, got.Correct, got.Excluded, w.Classes, w.Support, w.Correct, w.Excluded)
			}
			if !sameFloats(got.Recall, w.Recall) {
				t.Errorf("Recall = %v, want %v", got.Recall, w.Recall)
			}
			for _, f := range []struct {
				name      string
				got, want float64
			}{
				{"Balanced", got.Balanced, w.Balanced},
				{"Accuracy", got.Accuracy, w.Accuracy},
				{"Worst", got.Worst, w.Worst},
			} {
				if !sameFloat(f.got, f.want) {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
			}
			if got.WorstClass != w.WorstClass {
				t.Errorf("WorstClass = %d, want %d", got.WorstClass, w.WorstClass)
			}
			for k, want := range tc.tail {
				if g := got.Tail(k); !sameFloat(g, want) {
					t.Errorf("Tail(%d) = %v, want %v", k, g, want)
				}
			}
			if g := eval.BalancedAccuracy(tc.pred, tc.truth, tc.classes); !sameFloat(g, w.Balanced) {
				t.Errorf("BalancedAccuracy = %v, want %v", g, w.Balanced)
			}
			if g := eval.BalancedRobustness(tc.pred, tc.truth, tc.classes); !sameFloat(g, w.Balanced) {
				t.Errorf("BalancedRobustness = %v, want %v", g, w.Balanced)
			}
		})
	}
}

func TestConfusion(t *testing.T) {
	truth := []int64{0, 0, 0, 1, 1, 2, 2, 2, 2}
	pred := []int64{0, 1, 0, 1, 3, 2, 2, 0, 2}
	want := mat.NewDense(4, 4, []float64{
		2, 1, 0, 0,
		0, 1, 0, 1,
		1, 0, 3, 0,
		0, 0, 0, 0,
	})
	got := eval.Confusion(pred, truth, 4)
	if !mat.Equal(got, want) {
		t.Errorf("Confusion =\n%v\nwant\n%v", mat.Formatted(got), mat.Formatted(want))
	}
	// Row sums are the supports and the diagonal the correct counts.
	r := eval.Evaluate(pred, truth, 4)
	for c := range 4 {
		if s := mat.Sum(got.RowView(c)); int(s) != r.Support[c] {
			t.Errorf("row %d sums to %v, support %d", c, s, r.Support[c])
		}
		if int(got.At(c, c)) != r.Correct[c] {
			t.Errorf("diagonal %d = %v, correct %d", c, got.At(c, c), r.Correct[c])
		}
	}
}

// TestBalancedMatchesConfusion checks Evaluate against the confusion matrix
// on random data with random empty classes.
func TestBalancedMatchesConfusion(t *testing.T) {
	seed := testseed.Get(t, 1)
	rng := rand.New(rand.NewPCG(seed, 0))
	for trial := range 20 {
		k := 2 + rng.IntN(20)
		m := rng.IntN(200)
		truth, pred := make([]int64, m), make([]int64, m)
		for i := range m {
			truth[i] = int64(rng.IntN(k/2 + 1)) // the upper classes stay empty
			pred[i] = int64(rng.IntN(k))
		}
		cm := eval.Confusion(pred, truth, k)
		var sum float64
		n := 0
		for c := range k {
			if s := mat.Sum(cm.RowView(c)); s > 0 {
				sum += cm.At(c, c) / s
				n++
			}
		}
		want := math.NaN()
		if n > 0 {
			want = sum / float64(n)
		}
		if got := eval.BalancedAccuracy(pred, truth, k); math.Abs(got-want) > 1e-12 && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("trial %d (seed %d, set TAET_TEST_SEED to change it): BalancedAccuracy = %v, confusion gives %v", trial, seed, got, want)
		}
	}
}

func TestPanics(t *testing.T) {
	y := []int64{0, 1, 2}
	r := eval.Evaluate(y, y, 3)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"length mismatch", func() { eval.Evaluate(y, y[:1], 3) }},
		{"label out of range", func() { eval.Evaluate(y, []int64{0, 1, 3}, 3) }},
		{"negative label", func() { eval.Evaluate(y, []int64{0, -1, 2}, 3) }},
		{"prediction out of range", func() { eval.Evaluate([]int64{0, 1, 5}, y, 3) }},
		{"no classes", func() { eval.Evaluate(nil, nil, 0) }},
		{"confusion mismatch", func() { eval.Confusion(y[:2], y, 3) }},
		{"balanced out of range", func() { eval.BalancedAccuracy(y, y, 2) }},
		{"robustness mismatch", func() { eval.BalancedRobustness(y, y[1:], 3) }},
		{"tail zero", func() { r.Tail(0) }},
		{"tail too many", func() { r.Tail(4) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !panics(tc.f) {
				t.Error("did not panic")
			}
		})
	}
}

func panics(f func()) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	f()
	return false
}

func BenchmarkBalancedAccuracy(b *testing.B) {
	for _, classes := range []int{10, 1000} {
		b.Run(fmt.Sprintf("classes=%d", classes), func(b *testing.B) {
			const m = 100_000
			rng := rand.New(rand.NewPCG(1, 2))
			truth, pred := make([]int64, m), make([]int64, m)
			for i := range m {
				truth[i] = int64(rng.IntN(classes))
				pred[i] = int64(rng.IntN(classes))
			}
			n := 0
			for b.Loop() {
				eval.BalancedAccuracy(pred, truth, classes)
				n++
			}
			b.ReportMetric(float64(n*m)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
