package losses

import (
	"fmt"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx"
)

// CrossEntropy returns the mean cross-entropy of logits [N, C] against
// labels y [N] int64, a float32 scalar:
//
//	(1/N)·Σ_i −log softmax(z_i)_{y_i}
//
// It is a graphs.LossHead. It panics with a *graphs.BuildError if the
// shapes or element types are wrong.
func CrossEntropy(logits, y *graphs.Value) *graphs.Value {
	return graphs.ReduceMean(CrossEntropyPerSample(logits, y), nil, false)
}

// CrossEntropyPerSample returns ℓ_i = −log softmax(z_i)_{y_i} for every
// sample, [N] float32, computed with LogSoftmax for stability. It panics
// with a *graphs.BuildError if the shapes or element types are wrong.
func CrossEntropyPerSample(logits, y *graphs.Value) *graphs.Value {
	checkHead("CrossEntropyPerSample", logits, y)
	return scoped("ce", logits, func() *graphs.Value {
		return graphs.Neg(pick(graphs.LogSoftmax(logits, 1), y))
	})
}

// checkHead panics with a *graphs.BuildError for op unless logits is float32
// [N, C] and y is int64 [N].
func checkHead(op string, logits, y *graphs.Value) {
	switch {
	case logits.DType() != onnx.Float || logits.Rank() != 2:
		fail(op, "logits %s: want float32 [N, C]", logits)
	case y.DType() != onnx.Int64 || y.Rank() != 1 || y.Dim(0) != logits.Dim(0):
		fail(op, "labels %s: want int64 [%d] for logits %s", y, logits.Dim(0), logits)
	}
}

// fail panics with a *graphs.BuildError for op.
func fail(op, format string, args ...any) {
	panic(&graphs.BuildError{Op: op, Err: fmt.Errorf(format, args...)})
}

// scoped builds fn's nodes under the scope name ("hel/ReduceSum_0").
func scoped(name string, logits *graphs.Value, fn func() *graphs.Value) (out *graphs.Value) {
	logits.Builder().WithScope(name, func() { out = fn() })
	return out
}

// pick returns x[i, idx[i]] for x [N, C] and idx [N] int64, as [N].
func pick(x, idx *graphs.Value) *graphs.Value {
	return graphs.Squeeze(graphs.GatherElements(x, graphs.Unsqueeze(idx, 1), 1), 1)
}
