package losses

import (
	"math"
	"slices"

	"github.com/taet-ml/taet/graphs"
)

// Count is the element type class counts may be given in.
type Count interface {
	~int | ~int32 | ~int64 | ~float32 | ~float64
}

// BalancedSoftmax returns the balanced-softmax cross-entropy of logits
// [N, C] against labels y [N] int64 (Ren et al., 2020; the AT-BSL loss),
// a float32 scalar:
//
//	(1/N)·Σ_i −log( n_{y_i}^τ·exp(z_{i,y_i}) / Σ_j n_j^τ·exp(z_ij) )
//
// where n_j = classCounts[j], the number of training samples of class j.
// It is computed as the cross-entropy of z + τ·log n, with τ·log n a
// constant [1, C]; scaling every count by the same factor changes nothing.
// τ = 1 is AT-BSL's setting and τ = 0 gives CrossEntropy. It panics with a
// *graphs.BuildError if the shapes disagree or a count is not positive.
func BalancedSoftmax[T Count](logits, y *graphs.Value, classCounts []T, tau float32) *graphs.Value {
	checkHead("BalancedSoftmax", logits, y)
	c := logits.Dim(1)
	if int64(len(classCounts)) != c {
		fail("BalancedSoftmax", "%d class counts for logits %s", len(classCounts), logits)
	}
	bias := make([]float32, c)
	for j, n := range classCounts {
		if !(n > 0) || math.IsInf(float64(n), 0) {
			fail("BalancedSoftmax", "class count %v of class %d: want a positive number", n, j)
		}
		bias[j] = float32(float64(tau) * math.Log(float64(n)))
	}
	return scoped("balanced-softmax", logits, func() *graphs.Value {
		shifted := graphs.Add(logits, logits.Builder().Constant([]int64{1, c}, bias))
		return graphs.ReduceMean(CrossEntropyPerSample(shifted, y), nil, false)
	})
}

// BalancedSoftmaxHead returns BalancedSoftmax with classCounts and tau bound.
// The counts are copied.
func BalancedSoftmaxHead[T Count](classCounts []T, tau float32) graphs.LossHead {
	classCounts = slices.Clone(classCounts)
	return func(logits, y *graphs.Value) *graphs.Value {
		return BalancedSoftmax(logits, y, classCounts, tau)
	}
}
