package losses

import (
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx"
)

// CleanLogitsInput is the name of the float32 [N, C] graph input of the
// clean batch's logits that KLHead declares.
const CleanLogitsInput = "clean_logits"

// KLDivergencePerSample returns KL(p_i ‖ q_i) for every sample, [N]
// float32, with p_i = softmax(clean_i) and q_i = softmax(adv_i) of logits
// clean and adv [N, C]:
//
//	KL(p ‖ q) = Σ_j p_j·(log p_j − log q_j)
//
// the divergence of PyTorch's KLDivLoss(log q, p) summed over the classes,
// both logarithms computed with LogSoftmax. Both arguments are
// differentiated. It panics with a *graphs.BuildError unless both are
// float32 [N, C] of one shape.
func KLDivergencePerSample(clean, adv *graphs.Value) *graphs.Value {
	checkPair("KLDivergence", clean, adv)
	return scoped("kl", adv, func() *graphs.Value {
		logP := graphs.LogSoftmax(clean, 1)
		return klRows(graphs.Softmax(clean, 1), logP, graphs.LogSoftmax(adv, 1))
	})
}

// KLDivergence returns the sum over the batch of KLDivergencePerSample, a
// float32 scalar: the attack loss of TRADES, which its authors compute
// with KLDivLoss(size_average=False) between the adversarial and the clean
// predictions of the model in eval mode.
func KLDivergence(clean, adv *graphs.Value) *graphs.Value {
	return graphs.ReduceSum(KLDivergencePerSample(clean, adv), nil, false)
}

// KLHead returns a graphs.LossHead computing KLDivergence of its logits
// from the logits fed in a new float32 [N, C] graph input named
// CleanLogitsInput, which it declares (a graph can hold one such head); the
// labels are not used. An attack's input-gradient graph with this head
// takes the clean batch's logits, computed once per batch, and ascends the
// divergence from them (TRADES's attack).
func KLHead() graphs.LossHead {
	return func(logits, y *graphs.Value) *graphs.Value {
		checkHead("KL", logits, y)
		clean := logits.Builder().Input(CleanLogitsInput, onnx.Float, logits.Shape()...)
		return KLDivergence(clean, logits)
	}
}

// TRADES returns the TRADES training loss (Zhang et al., 2019) of the
// clean logits z and the adversarial logits z' [N, C] against labels y [N],
// a float32 scalar:
//
//	(1/N)·Σ_i ℓ_i(z) + β·(1/N)·Σ_i KL(softmax(z_i) ‖ softmax(z'_i))
//
// with ℓ_i the cross-entropy and KL as in KLDivergencePerSample: the
// authors' trades_loss, F.cross_entropy(z, y) + β·KLDivLoss(size_average=
// False)(log_softmax(z'), softmax(z))/N. Nothing is detached: the gradient
// reaches z through the cross-entropy and through the KL's target, as
// PyTorch's kl_div differentiates its target. β = 6 in the authors' CIFAR-10
// script. It panics with a *graphs.BuildError if the shapes are wrong.
func TRADES(clean, adv, y *graphs.Value, beta float32) *graphs.Value {
	checkHead("TRADES", clean, y)
	checkPair("TRADES", clean, adv)
	return scoped("trades", adv, func() *graphs.Value {
		natural := CrossEntropy(clean, y)
		robust := graphs.ReduceMean(KLDivergencePerSample(clean, adv), nil, false)
		return graphs.Add(natural, graphs.Mul(adv.Builder().Scalar(beta), robust))
	})
}

// TRADESHead returns the paired train-step head of TRADES with β bound:
// the network runs in training mode on the clean batch, the adversarial
// batch and the clean batch again, as trades_loss calls the model (its
// BatchNorm running statistics are updated three times per step).
func TRADESHead(beta float32) *graphs.PairHead {
	return &graphs.PairHead{
		Loss:   func(clean, adv, y *graphs.Value) *graphs.Value { return TRADES(clean, adv, y, beta) },
		Passes: []graphs.Pass{graphs.CleanPass, graphs.AdversarialPass, graphs.CleanPass},
	}
}

// klRows returns Σ_j p_ij·(logP_ij − logQ_ij), [N], for [N, C] arguments.
func klRows(p, logP, logQ *graphs.Value) *graphs.Value {
	return graphs.ReduceSum(graphs.Mul(p, graphs.Sub(logP, logQ)), []int64{1}, false)
}

// checkPair panics with a *graphs.BuildError for op unless clean and adv
// are float32 [N, C] logits of one shape.
func checkPair(op string, clean, adv *graphs.Value) {
	if clean.DType() != onnx.Float || clean.Rank() != 2 || adv.DType() != onnx.Float || adv.Rank() != 2 ||
		clean.Dim(0) != adv.Dim(0) || clean.Dim(1) != adv.Dim(1) {
		fail(op, "clean logits %s and adversarial logits %s: want float32 [N, C] of one shape", clean, adv)
	}
}
