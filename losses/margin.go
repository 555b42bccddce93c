package losses

import (
	"math"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx"
)

// TargetInput is the name of the int64 [N] graph input of target classes
// that DLRTargetedHead declares.
const TargetInput = "y_target"

// CWPerSample returns the Carlini–Wagner L∞ margin of every sample, [N]
// float32, in the sign an attack ascends:
//
//	min(max_{j≠y_i} z_ij − z_{i,y_i}, κ)
//
// the negative of Carlini and Wagner's f = max(z_y − max_{j≠y} z_j, −κ).
// It grows while the best wrong class gains on the true one and stays at κ
// once it leads by κ. It panics with a *graphs.BuildError if the shapes are
// wrong or C < 2.
func CWPerSample(logits, y *graphs.Value, kappa float32) *graphs.Value {
	checkHead("CW", logits, y)
	if logits.Dim(1) < 2 {
		fail("CW", "logits %s: want at least 2 classes", logits)
	}
	return scoped("cw", logits, func() *graphs.Value {
		margin := graphs.Sub(maxOther(logits, y), pick(logits, y))
		return graphs.Min(margin, logits.Builder().Scalar(kappa))
	})
}

// CW returns the sum over the batch of CWPerSample, a float32 scalar: the
// CW-L∞ loss PGD ascends.
func CW(logits, y *graphs.Value, kappa float32) *graphs.Value {
	return graphs.ReduceSum(CWPerSample(logits, y, kappa), nil, false)
}

// CWHead returns CW with kappa bound.
func CWHead(kappa float32) graphs.LossHead {
	return func(logits, y *graphs.Value) *graphs.Value { return CW(logits, y, kappa) }
}

// DLRPerSample returns AutoAttack's difference-of-logits-ratio loss of
// every sample, [N] float32 (Croce and Hein, 2020):
//
//	−(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e-12)
//
// with z_π1 ≥ z_π2 ≥ z_π3 the largest logits. An attack ascends it. It
// panics with a *graphs.BuildError if the shapes are wrong or C < 3.
func DLRPerSample(logits, y *graphs.Value) *graphs.Value {
	checkHead("DLR", logits, y)
	if logits.Dim(1) < 3 {
		fail("DLR", "logits %s: want at least 3 classes", logits)
	}
	return scoped("dlr", logits, func() *graphs.Value {
		top := sortedTop(logits, 3)
		scale := graphs.Add(graphs.Sub(top[0], top[2]), logits.Builder().Scalar(1e-12))
		return graphs.Div(graphs.Sub(maxOther(logits, y), pick(logits, y)), scale)
	})
}

// DLR returns the sum over the batch of DLRPerSample, a float32 scalar. It
// is a graphs.LossHead.
func DLR(logits, y *graphs.Value) *graphs.Value {
	return graphs.ReduceSum(DLRPerSample(logits, y), nil, false)
}

// DLRTargetedPerSample returns AutoAttack's targeted DLR loss of every
// sample toward target classes t [N] int64, [N] float32:
//
//	−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12)
//
// with z_π1 ≥ … ≥ z_π4 the largest logits. An attack ascends it. It panics
// with a *graphs.BuildError if the shapes are wrong or C < 4.
func DLRTargetedPerSample(logits, y, target *graphs.Value) *graphs.Value {
	checkHead("DLRTargeted", logits, y)
	checkHead("DLRTargeted", logits, target)
	if logits.Dim(1) < 4 {
		fail("DLRTargeted", "logits %s: want at least 4 classes", logits)
	}
	return scoped("dlr-targeted", logits, func() *graphs.Value {
		b := logits.Builder()
		top := sortedTop(logits, 4)
		mid := graphs.Mul(graphs.Add(top[2], top[3]), b.Scalar(0.5))
		scale := graphs.Add(graphs.Sub(top[0], mid), b.Scalar(1e-12))
		return graphs.Div(graphs.Sub(pick(logits, target), pick(logits, y)), scale)
	})
}

// DLRTargeted returns the sum over the batch of DLRTargetedPerSample, a
// float32 scalar.
func DLRTargeted(logits, y, target *graphs.Value) *graphs.Value {
	return graphs.ReduceSum(DLRTargetedPerSample(logits, y, target), nil, false)
}

// DLRTargetedHead returns a graphs.LossHead computing DLRTargeted toward
// the classes fed in a new int64 [N] graph input named TargetInput, which
// it declares; a graph can therefore hold only one such head.
func DLRTargetedHead() graphs.LossHead {
	return func(logits, y *graphs.Value) *graphs.Value {
		target := logits.Builder().Input(TargetInput, onnx.Int64, logits.Dim(0))
		return DLRTargeted(logits, y, target)
	}
}

// lowest stands in for −∞ in masked logits (finite, so no inf−inf appears).
const lowest = -math.MaxFloat32

// classes returns the int64 constant [[0, 1, …, C−1]], [1, C].
func classes(b *graphs.Builder, c int64) *graphs.Value {
	idx := make([]int64, c)
	for j := range idx {
		idx[j] = int64(j)
	}
	return b.ConstantInt64([]int64{1, c}, idx)
}

// maxOther returns max_{j≠y_i} z_ij, [N]: a ReduceMax with each label's
// logit masked out (ties split the gradient evenly).
func maxOther(logits, y *graphs.Value) *graphs.Value {
	return graphs.ReduceMax(maskLabels(logits, y), []int64{1}, false)
}

// maskLabels returns x [N, C] with x[i, y_i] replaced by lowest.
func maskLabels(x, y *graphs.Value) *graphs.Value {
	b := x.Builder()
	isLabel := graphs.Equal(graphs.Unsqueeze(y, 1), classes(b, x.Dim(1)))
	return graphs.Where(isLabel, b.Scalar(lowest), x)
}

// sortedTop returns the k largest logits of each row in descending order,
// k values [N]. Each is found by ArgMax (first index among ties) on the
// logits with the earlier picks masked out, and read from the logits by
// GatherElements, so its gradient goes to exactly that logit.
func sortedTop(logits *graphs.Value, k int) []*graphs.Value {
	b := logits.Builder()
	all := classes(b, logits.Dim(1))
	masked := logits
	top := make([]*graphs.Value, k)
	for i := range k {
		idx := graphs.ArgMax(masked, 1, true) // [N, 1]
		top[i] = graphs.Squeeze(graphs.GatherElements(logits, idx, 1), 1)
		if i < k-1 {
			masked = graphs.Where(graphs.Equal(idx, all), b.Scalar(lowest), masked)
		}
	}
	return top
}

// MarginTargetedPerSample returns z_{i,t_i} − z_{i,y_i} for every sample,
// [N] float32: how far target class t leads the true class (FAB-T's
// linearised decision boundary). It panics with a *graphs.BuildError if the
// shapes are wrong.
func MarginTargetedPerSample(logits, y, target *graphs.Value) *graphs.Value {
	checkHead("MarginTargeted", logits, y)
	checkHead("MarginTargeted", logits, target)
	return scoped("margin-targeted", logits, func() *graphs.Value {
		return graphs.Sub(pick(logits, target), pick(logits, y))
	})
}

// MarginTargeted returns the sum over the batch of MarginTargetedPerSample,
// a float32 scalar.
func MarginTargeted(logits, y, target *graphs.Value) *graphs.Value {
	return graphs.ReduceSum(MarginTargetedPerSample(logits, y, target), nil, false)
}

// MarginTargetedHead returns a graphs.LossHead computing MarginTargeted
// toward the classes fed in a new int64 [N] graph input named TargetInput.
func MarginTargetedHead() graphs.LossHead {
	return func(logits, y *graphs.Value) *graphs.Value {
		target := logits.Builder().Input(TargetInput, onnx.Int64, logits.Dim(0))
		return MarginTargeted(logits, y, target)
	}
}
