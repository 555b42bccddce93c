package losses

import (
	"math"
	"slices"

	"github.com/taet-ml/taet/graphs"
)

// RoBalOpts are the parameters of RoBal's class-aware margin loss and of
// its inference-time boundary adjustment (Wu et al., 2021, "Adversarial
// Robustness under Long-Tailed Distribution"). The zero value is not
// useful: RoBalN and RoBalR are the official configurations.
type RoBalOpts struct {
	S    float32 // scale s applied to the cosine logits in the loss (10)
	M    float32 // uniform margin m (0.1)
	TauM float32 // τ_m of the class-aware margin (0 for RoBal-N, 0.3 for RoBal-R)
	TauB float32 // τ_b of the training-time prior bias (1.2 for RoBal-N, 1.5 for RoBal-R)
	TauP float32 // τ_p of the inference-time adjustment (0.1 in the official RoBal-N eval config)
	Beta float32 // weight β of the TRADES term (6)
}

// RoBalN is the official CIFAR-10-LT RoBal-N configuration
// (cifar10_LT0.02_pgdat_robal_N_train.yaml and its _eval.yaml).
var RoBalN = RoBalOpts{S: 10, M: 0.1, TauM: 0, TauB: 1.2, TauP: 0.1, Beta: 6}

// RoBalMargins returns RoBal's per-class margin for training classes of
// counts images:
//
//	m_c = m + τ_m·log(n_c / min_j n_j) / s
//
// It panics if a count is not positive or o.S is 0.
func RoBalMargins[T Count](counts []T, o RoBalOpts) []float32 {
	if o.S == 0 {
		panic("losses: RoBalMargins: scale s is 0")
	}
	lo := math.Inf(1)
	for _, n := range counts {
		if !(n > 0) {
			panic("losses: RoBalMargins: class counts must be positive")
		}
		lo = min(lo, float64(n))
	}
	m := make([]float32, len(counts))
	for c, n := range counts {
		m[c] = float32(float64(o.M) + float64(o.TauM)*math.Log(float64(n)/lo)/float64(o.S))
	}
	return m
}

// logPrior returns τ·log(n_c / Σ_j n_j) for every class, the prior bias of
// RoBal's loss (τ_b) and of its adjustment (τ_p).
func logPrior[T Count](counts []T, tau float32) []float32 {
	total := 0.0
	for _, n := range counts {
		total += float64(n)
	}
	out := make([]float32, len(counts))
	for c, n := range counts {
		out[c] = float32(float64(tau) * math.Log(float64(n)/total))
	}
	return out
}

// RoBalMargin returns RoBal's class-aware margin loss of cosine logits z
// [N, C] (a cosine classifier at scale 1) against labels y [N] int64, a
// float32 scalar, as the official MultiMarginLoss computes it:
//
//	u_i = s·(z_i − m_{y_i}·e_{y_i}) + τ_b·log π
//	L   = (1/N)·Σ_i −log softmax(u_i)_{y_i}
//
// with m_c from RoBalMargins, π_c = n_c / Σ_j n_j the training prior and
// e_y the one-hot vector of y: the margin is taken off the true class's
// cosine only, then every logit is scaled and shifted by the log prior.
// counts are the training-set counts of the C classes, all positive. It
// panics with a *graphs.BuildError if the shapes disagree or a count is not
// positive.
func RoBalMargin[T Count](z, y *graphs.Value, counts []T, o RoBalOpts) *graphs.Value {
	checkHead("RoBalMargin", z, y)
	c := z.Dim(1)
	if int64(len(counts)) != c {
		fail("RoBalMargin", "%d class counts for logits %s", len(counts), z)
	}
	for j, n := range counts {
		if !(n > 0) || math.IsInf(float64(n), 0) {
			fail("RoBalMargin", "class count %v of class %d: want a positive number", n, j)
		}
	}
	if o.S == 0 {
		fail("RoBalMargin", "scale s is 0")
	}
	margins, bias := RoBalMargins(counts, o), logPrior(counts, o.TauB)
	return scoped("robal-margin", z, func() *graphs.Value {
		b := z.Builder()
		onehot := graphs.OneHot(y, c, 0, 1) // [N, C]
		shifted := graphs.Sub(z, graphs.Mul(onehot, b.Constant([]int64{1, c}, margins)))
		u := graphs.Add(graphs.Mul(b.Scalar(o.S), shifted), b.Constant([]int64{1, c}, bias))
		return graphs.ReduceMean(CrossEntropyPerSample(u, y), nil, false)
	})
}

// RoBal returns RoBal's training loss of the clean and adversarial cosine
// logits z, z′ [N, C] against labels y [N] int64, a float32 scalar, as the
// official add_reg_train computes it with reg_opt trades (beta_adv 1,
// beta_nat 0):
//
//	L = RoBalMargin(z′, y) + β·(1/N)·Σ_i Σ_j p_ij·(log p_ij − log(q_ij + 1e-12))
//
// with p_i = softmax(z_i) and q_i = softmax(z′_i): PyTorch's
// KLDivLoss(reduction='sum')(log(q + 1e-12), p) / N, nothing detached (the
// gradient reaches z through the KL's target). It panics with a
// *graphs.BuildError if the shapes disagree or a count is not positive.
func RoBal[T Count](clean, adv, y *graphs.Value, counts []T, o RoBalOpts) *graphs.Value {
	checkPair("RoBal", clean, adv)
	margin := RoBalMargin(adv, y, counts, o)
	return scoped("robal", adv, func() *graphs.Value {
		b := adv.Builder()
		logQ := graphs.Log(graphs.Add(graphs.Softmax(adv, 1), b.Scalar(1e-12)))
		kl := graphs.ReduceMean(klRows(graphs.Softmax(clean, 1), graphs.LogSoftmax(clean, 1), logQ), nil, false)
		return graphs.Add(margin, graphs.Mul(b.Scalar(o.Beta), kl))
	})
}

// RoBalHead returns the paired train-step head of RoBal with counts and o
// bound (the counts are copied): the network runs in training mode on the
// adversarial batch, the clean batch twice and the adversarial batch again,
// as add_reg_train calls the model (its second pass feeds the natural loss,
// a cross-entropy weighted by beta_nat = 0 that adds nothing but a
// BatchNorm update; the third and fourth feed the KL term).
func RoBalHead[T Count](counts []T, o RoBalOpts) *graphs.PairHead {
	counts = slices.Clone(counts)
	return &graphs.PairHead{
		Loss:   func(clean, adv, y *graphs.Value) *graphs.Value { return RoBal(clean, adv, y, counts, o) },
		Passes: []graphs.Pass{graphs.AdversarialPass, graphs.CleanPass, graphs.CleanPass, graphs.AdversarialPass},
	}
}

// RoBalAdjustment returns RoBal's inference-time boundary adjustment of a
// cosine classifier at scale 1 as an affine map of its logits z:
//
//	z′ = s·z − τ_p·log π,   π_c = n_c / Σ_j n_j
//
// returned as the factor s and the bias −τ_p·log π [C]. This is what the
// official evaluation's PostProc classifier (cosine, scale s, posthoc)
// computes from the trained weights. It panics if a count is not positive.
func RoBalAdjustment[T Count](counts []T, o RoBalOpts) (scale float32, bias []float32) {
	for _, n := range counts {
		if !(n > 0) {
			panic("losses: RoBalAdjustment: class counts must be positive")
		}
	}
	bias = logPrior(counts, o.TauP)
	for c := range bias {
		bias[c] = -bias[c]
	}
	return o.S, bias
}

// RoBalMarginHead returns RoBalMargin with counts and o bound; the counts
// are copied.
func RoBalMarginHead[T Count](counts []T, o RoBalOpts) graphs.LossHead {
	counts = slices.Clone(counts)
	return func(z, y *graphs.Value) *graphs.Value { return RoBalMargin(z, y, counts, o) }
}
