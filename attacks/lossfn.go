package attacks

import (
	"fmt"
	"math"
	"slices"
)

// lossValue returns the per-example value of the oracle loss named, for
// one row of logits z [K] with label y and target t (ignored by untargeted
// losses), with package losses' definitions and signs (what an attack
// ascends):
//
//	ce            log Σ_j exp(z_j) − z_y
//	dlr           −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e-12)
//	dlr-targeted  −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12)
//
// with z_π1 ≥ z_π2 ≥ … the sorted logits. APGD needs these values for its
// step-size rule, and the Oracle returns only logits and gradients. It
// returns an error for another loss, or for too few classes (DLR needs
// K ≥ 3, targeted DLR K ≥ 4).
func lossValue(loss string, z []float32, y, t int64) (float64, error) {
	switch loss {
	case "ce":
		top := float64(z[argmax(z)])
		s := 0.0
		for _, v := range z {
			s += math.Exp(float64(v) - top)
		}
		return top + math.Log(s) - float64(z[y]), nil
	case "dlr", "dlr-targeted":
		if err := checkClasses(loss, len(z)); err != nil {
			return 0, err
		}
		r := ranked(z)
		if loss == "dlr" {
			return -margin(z, y) / (float64(z[r[0]]) - float64(z[r[2]]) + 1e-12), nil
		}
		scale := float64(z[r[0]]) - (float64(z[r[2]])+float64(z[r[3]]))/2 + 1e-12
		return -(float64(z[y]) - float64(z[t])) / scale, nil
	}
	return 0, fmt.Errorf("loss %q has no Go-side value (want ce, dlr or dlr-targeted)", loss)
}

// checkClasses returns an error if the loss named needs more than k
// classes: DLR takes the third largest logit, targeted DLR the fourth.
func checkClasses(loss string, k int) error {
	need := map[string]int{"dlr": 3, "dlr-targeted": 4}[loss]
	if k < need {
		return fmt.Errorf("loss %s needs at least %d classes, have %d", loss, need, k)
	}
	return nil
}

// margin returns z_y − max_{j≠y} z_j: positive iff y alone has the largest
// logit.
func margin(z []float32, y int64) float64 {
	other := math.Inf(-1)
	for j, v := range z {
		if int64(j) != y {
			other = max(other, float64(v))
		}
	}
	return float64(z[y]) - other
}

// ranked returns the class indices ordered by decreasing logit, ties by
// increasing index.
func ranked(z []float32) []int {
	r := make([]int, len(z))
	for j := range r {
		r[j] = j
	}
	slices.SortStableFunc(r, func(a, b int) int {
		switch {
		case z[a] > z[b]:
			return -1
		case z[a] < z[b]:
			return 1
		}
		return 0
	})
	return r
}
