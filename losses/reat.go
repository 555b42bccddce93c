package losses

import (
	"math"
	"slices"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx"
)

// REATTail returns the first tail class of REAT's tail-feature alignment
// for C classes, as the official code picks them: the classes
// ⌊C/3⌋·2 + 1 … C−1 (7, 8 and 9 of CIFAR-10's ten, class 0 being the head).
func REATTail(classes int) int { return classes/3*2 + 1 }

// TailAlignment returns REAT's tail-feature alignment term of penultimate
// features f [N, D] with labels y [N] int64, a float32 scalar, exactly as
// the official loss_functions.REAT computes it (Li et al., 2023). With
// p_i = softmax(f_i) (detached), log q_j = log softmax(f_j),
// w_c = √(Σ_k n_k / n_c) from the training counts, s_ij = −1 when
// y_i = y_j and +1 otherwise, and T the samples of a tail class
// (y_i ≥ REATTail(C)):
//
//	KL_i   = (1/(N·D))·Σ_j Σ_d p_id·(log p_id − log q_jd)      (nn.KLDivLoss, mean over all N·D)
//	A_i    = (1/N)·Σ_j s_ij·(w_{y_i} + w_{y_j})
//	TAIL   = (1/|T|)·Σ_{i∈T} KL_i·A_i                          (0 when T is empty)
//
// The code multiplies the batch-mean KL of each tail anchor by the mean of
// its pair weights, rather than weighting each pair's KL by its own s_ij
// and w (docs/fidelity.md). Gradients flow into every f_j through log q_j
// only. counts are the C training counts, all positive. It panics with a
// *graphs.BuildError if the shapes disagree or a count is not positive.
func TailAlignment[T Count](f, y *graphs.Value, counts []T) *graphs.Value {
	if f.DType() != onnx.Float || f.Rank() != 2 {
		fail("TailAlignment", "features %s: want float32 [N, D]", f)
	}
	if y.DType() != onnx.Int64 || y.Rank() != 1 || y.Dim(0) != f.Dim(0) {
		fail("TailAlignment", "labels %s: want int64 [%d] for features %s", y, f.Dim(0), f)
	}
	c := int64(len(counts))
	total := 0.0
	for j, n := range counts {
		if !(n > 0) || math.IsInf(float64(n), 0) {
			fail("TailAlignment", "class count %v of class %d: want a positive number", n, j)
		}
		total += float64(n)
	}
	w := make([]float32, c)
	for j, n := range counts {
		w[j] = float32(math.Sqrt(total / float64(n)))
	}
	tail := make([]float32, c)
	for j := REATTail(int(c)); j < int(c); j++ {
		tail[j] = 1
	}
	n, d := f.Dim(0), f.Dim(1)
	return scoped("tail-alignment", f, func() *graphs.Value {
		b := f.Builder()
		logq := graphs.LogSoftmax(f, 1)                       // [N, D]
		logp := graphs.StopGradient(logq)                     // log p_i, detached
		meanLogq := graphs.ReduceMean(logq, []int64{0}, true) // (1/N)·Σ_j log q_j [1, D]
		kl := graphs.ReduceSum(graphs.Mul(graphs.Exp(logp), graphs.Sub(logp, meanLogq)), []int64{1}, false)
		kl = graphs.Mul(kl, b.Scalar(1/float32(d)))                    // KL_i [N]
		member := graphs.OneHot(y, c, 0, 1)                            // [N, C]
		same := graphs.MatMul(member, graphs.Transpose(member, 1, 0))  // [N, N]
		sign := graphs.Sub(b.Scalar(1), graphs.Mul(b.Scalar(2), same)) // s_ij
		wy := graphs.MatMul(member, b.Constant([]int64{c, 1}, w))      // w_{y_i} [N, 1]
		// A_i = (1/N)·(w_{y_i}·Σ_j s_ij + Σ_j s_ij·w_{y_j})
		rowSum := graphs.ReduceSum(sign, []int64{1}, true)
		a := graphs.Add(graphs.Mul(wy, rowSum), graphs.MatMul(sign, wy))
		a = graphs.Mul(graphs.Reshape(a, n), b.Scalar(1/float32(n)))
		isTail := graphs.Reshape(graphs.MatMul(member, b.Constant([]int64{c, 1}, tail)), n)
		count := graphs.ReduceSum(isTail, nil, false)
		sum := graphs.ReduceSum(graphs.Mul(isTail, graphs.Mul(kl, a)), nil, false)
		return graphs.Div(sum, graphs.Max(count, b.Scalar(1)))
	})
}

// REATOpts are the weights of REAT's training loss.
type REATOpts struct {
	// Tail weighs the tail-feature alignment term (1 in the official code).
	Tail float32
}

// REAT returns REAT's training loss of adversarial logits z [N, C] and
// their penultimate features f [N, D] against labels y [N] int64:
//
//	L = BalancedSoftmax(z, y, n, τ = 1) + λ·TailAlignment(f, y, n)
//
// with λ = o.Tail and n the training counts (all positive). It panics with
// a *graphs.BuildError if the shapes disagree or a count is not positive.
func REAT[T Count](f, z, y *graphs.Value, counts []T, o REATOpts) *graphs.Value {
	bsl := BalancedSoftmax(z, y, counts, 1) // checks the counts against the logits
	return graphs.Add(bsl, graphs.Mul(z.Builder().Scalar(o.Tail), TailAlignment(f, y, counts)))
}

// REATHead returns REAT with counts and o bound, as a loss head that reads
// the penultimate features the network declared for its logits
// (graphs.Features); the counts are copied.
func REATHead[T Count](counts []T, o REATOpts) graphs.LossHead {
	counts = slices.Clone(counts)
	return func(z, y *graphs.Value) *graphs.Value { return REAT(graphs.Features(z), z, y, counts, o) }
}
