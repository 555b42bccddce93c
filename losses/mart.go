package losses

import "github.com/taet-ml/taet/graphs"

// MART returns the MART training loss (Wang et al., 2020) of the clean
// logits z and the adversarial logits z' [N, C] against labels y [N], a
// float32 scalar. With p_i = softmax(z_i), q_i = softmax(z'_i) and
// ŷ_i = argmax_{j≠y_i} q_ij the strongest wrong class on the adversarial
// example,
//
//	BCE    = (1/N)·Σ_i ℓ_i(z') + (1/N)·Σ_i −log(1.0001 − q_{i,ŷ_i} + 1e-12)
//	robust = (1/N)·Σ_i KL_i·(1.0000001 − p_{i,y_i}),  KL_i = Σ_j p_ij·(log p_ij − log(q_ij + 1e-12))
//	MART   = BCE + β·robust
//
// with ℓ_i the cross-entropy: the authors' mart_loss, its constants
// included (they keep the logarithms finite), evaluated in its order.
// Nothing but the index ŷ is detached: the gradient reaches z through the
// KL's target p and through the weight 1 − p_y. ŷ is the first such index
// among tied probabilities (the authors' argsort leaves ties unordered).
// β = 6 is mart.py's default. It panics with a *graphs.BuildError if the
// shapes are wrong or C < 2.
func MART(clean, adv, y *graphs.Value, beta float32) *graphs.Value {
	checkHead("MART", clean, y)
	checkPair("MART", clean, adv)
	if adv.Dim(1) < 2 {
		fail("MART", "logits %s: want at least 2 classes", adv)
	}
	return scoped("mart", adv, func() *graphs.Value {
		b := adv.Builder()
		q := graphs.Softmax(adv, 1)
		wrong := graphs.ArgMax(maskLabels(q, y), 1, false) // ŷ [N]
		margin := graphs.Neg(graphs.Log(graphs.Add(graphs.Sub(b.Scalar(1.0001), pick(q, wrong)), b.Scalar(1e-12))))
		bce := graphs.Add(CrossEntropy(adv, y), graphs.ReduceMean(margin, nil, false))
		p := graphs.Softmax(clean, 1)
		kl := klRows(p, graphs.LogSoftmax(clean, 1), graphs.Log(graphs.Add(q, b.Scalar(1e-12))))
		weight := graphs.Sub(b.Scalar(1.0000001), pick(p, y))
		robust := graphs.ReduceMean(graphs.Mul(kl, weight), nil, false)
		return graphs.Add(bce, graphs.Mul(b.Scalar(beta), robust))
	})
}

// MARTHead returns the paired train-step head of MART with β bound: the
// network runs in training mode on the clean batch, then on the
// adversarial batch, as mart_loss calls the model.
func MARTHead(beta float32) *graphs.PairHead {
	return &graphs.PairHead{
		Loss:   func(clean, adv, y *graphs.Value) *graphs.Value { return MART(clean, adv, y, beta) },
		Passes: []graphs.Pass{graphs.CleanPass, graphs.AdversarialPass},
	}
}
