package devcheck

import (
	"math"
	"strings"
	"testing"
)

// TestCompareCatchesDifferences: within the tolerance passes, over it or a
// NaN fails naming the tensor, and the per-group maxima are recorded.
func TestCompareCatchesDifferences(t *testing.T) {
	ref := map[string][]float32{"loss": {2}, "conv1.weight_grad": {0.5, -3}}
	groups := map[string]string{"loss": "loss", "_grad": "grad"}
	for _, tc := range []struct {
		grad []float32
		fail bool
	}{
		{[]float32{0.5, -3}, false},
		{[]float32{0.5, -3 + 0.03}, false}, // 0.03 / 3 = 1% of the scale
		{[]float32{0.5, -3 + 0.09}, true},  // 3%
		{[]float32{float32(math.NaN()), -3}, true},
		{[]float32{0.5}, true}, // a missing element
	} {
		r := &Report{Metrics: map[string]float64{}}
		err := compare(r, ref, map[string][]float32{"loss": {2}, "conv1.weight_grad": tc.grad}, groups)
		if (err != nil) != tc.fail || (err != nil && !strings.Contains(err.Error(), "conv1.weight_grad")) {
			t.Errorf("grad %v: error %v, want failure %v naming the tensor", tc.grad, err, tc.fail)
		}
		if _, ok := r.Metrics["max_rel_diff_grad"]; !ok {
			t.Errorf("grad %v: no max_rel_diff_grad in %v", tc.grad, r.Metrics)
		}
	}
}
