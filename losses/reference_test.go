package losses_test

// Plain-Go references of every loss, in float64, written from the formulas
// in doc.go (and, for DLR, AutoAttack's sort-based code) without sharing
// anything with the graph builders. Logits are rows z[i][j].

import (
	"math"
	"slices"

	"github.com/taet-ml/taet/losses"
)

// refCEPerSample returns −log softmax(z_i)_{y_i} for each row.
func refCEPerSample(z [][]float64, y []int64) []float64 {
	out := make([]float64, len(z))
	for i, row := range z {
		m := slices.Max(row)
		s := 0.0
		for _, v := range row {
			s += math.Exp(v - m)
		}
		out[i] = m + math.Log(s) - row[y[i]]
	}
	return out
}

func refMean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func refSum(x []float64) float64 { return refMean(x) * float64(len(x)) }

// refBalancedSoftmax is the mean of −log(n_y^τ e^{z_y} / Σ_j n_j^τ e^{z_j}).
func refBalancedSoftmax(z [][]float64, y []int64, counts []int, tau float64) float64 {
	total := 0.0
	for i, row := range z {
		den := 0.0
		for j, v := range row {
			den += math.Pow(float64(counts[j]), tau) * math.Exp(v)
		}
		total -= math.Log(math.Pow(float64(counts[y[i]]), tau) * math.Exp(row[y[i]]) / den)
	}
	return total / float64(len(z))
}

// refHELOfLosses returns HEL of per-sample losses l with labels y over C
// classes, and the per-class losses L_c. The weights are used as given.
func refHELOfLosses(l []float64, y []int64, numClasses int, o losses.HELOpts) (hel float64, perClass []float64) {
	sum := make([]float64, numClasses)
	count := make([]float64, numClasses)
	for i, v := range l {
		sum[y[i]] += v
		count[y[i]]++
	}
	perClass = make([]float64, numClasses)
	var over []float64 // the L_c the means run over
	total := 0.0
	for c := range numClasses {
		perClass[c] = sum[c] / (count[c] + 1e-10)
		total += perClass[c]
		if o.Variant == losses.AllClasses || count[c] > 0 {
			over = append(over, perClass[c])
		}
	}
	m := refMean(over)
	dev := make([]float64, len(over))
	for k, v := range over {
		dev[k] = (v - m) * (v - m)
	}
	rcel := 0.0
	for _, v := range perClass {
		rcel += (v / (total + 1e-10)) * (v / (total + 1e-10))
	}
	return float64(o.Alpha)*m + float64(o.Beta)*refMean(dev) + float64(o.Gamma)*rcel, perClass
}

// refHEL is refHELOfLosses of the per-sample cross-entropy.
func refHEL(z [][]float64, y []int64, o losses.HELOpts) float64 {
	hel, _ := refHELOfLosses(refCEPerSample(z, y), y, len(z[0]), o)
	return hel
}

// refMaxOther returns max_{j≠y} z_j.
func refMaxOther(row []float64, y int64) float64 {
	m := math.Inf(-1)
	for j, v := range row {
		if int64(j) != y {
			m = max(m, v)
		}
	}
	return m
}

// refCWPerSample returns −max(z_y − max_{j≠y} z_j, −κ) for each row.
func refCWPerSample(z [][]float64, y []int64, kappa float64) []float64 {
	out := make([]float64, len(z))
	for i, row := range z {
		out[i] = -math.Max(row[y[i]]-refMaxOther(row, y[i]), -kappa)
	}
	return out
}

// refDLRPerSample follows AutoAttack's dlr_loss: x_sorted ascending, the
// runner-up x_sorted[-2] when the top index is the label, else the top.
func refDLRPerSample(z [][]float64, y []int64) []float64 {
	out := make([]float64, len(z))
	for i, row := range z {
		asc := slices.Sorted(slices.Values(row))
		n := len(asc)
		other := asc[n-1]
		if slices.Index(row, asc[n-1]) == int(y[i]) {
			other = asc[n-2]
		}
		out[i] = -(row[y[i]] - other) / (asc[n-1] - asc[n-3] + 1e-12)
	}
	return out
}

// refDLRTargetedPerSample follows AutoAttack's dlr_loss_targeted.
func refDLRTargetedPerSample(z [][]float64, y, target []int64) []float64 {
	out := make([]float64, len(z))
	for i, row := range z {
		asc := slices.Sorted(slices.Values(row))
		n := len(asc)
		out[i] = -(row[y[i]] - row[target[i]]) / (asc[n-1] - 0.5*(asc[n-3]+asc[n-4]) + 1e-12)
	}
	return out
}

// refMarginTargetedPerSample is z_t − z_y per sample.
func refMarginTargetedPerSample(z [][]float64, y, target []int64) []float64 {
	out := make([]float64, len(z))
	for i, row := range z {
		out[i] = row[target[i]] - row[y[i]]
	}
	return out
}
