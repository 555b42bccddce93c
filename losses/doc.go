// Package losses builds the loss heads of TAET and its baselines as ONNX
// graph fragments: functions of logits [N, C] float32 and labels y [N] int64
// that return a float32 value built from graphs primitives only, so
// graphs.Grad differentiates them like any other part of the graph (no
// loss has a gradient rule of its own, and nothing is detached but REAT's
// anchor distribution, which its authors' code detaches).
//
// # Heads
//
// ℓ_i is the cross-entropy of sample i, z_i its logits, n_c a count of
// class c and C the number of classes:
//
//	ce                CrossEntropy           (1/N)·Σ_i ℓ_i,  ℓ_i = −log softmax(z_i)_{y_i}
//	balanced-softmax  BalancedSoftmax        (1/N)·Σ_i −log softmax(z_i + τ·log n)_{y_i}     (AT-BSL; alias bsl)
//	hel               HEL                    α·BCL + β·HDL + γ·RCEL over the batch           (TAET, see below)
//	cw                CW                     Σ_i min(max_{j≠y_i} z_ij − z_{i,y_i}, κ)         (CW-L∞ margin)
//	dlr               DLR                    Σ_i −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e-12)
//	dlr-targeted      DLRTargeted            Σ_i −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12)
//	margin-targeted   MarginTargeted         Σ_i (z_t − z_y)   (FAB-T's linearised boundary)
//	kl                KLDivergence           Σ_i KL(softmax(r_i) ‖ softmax(z_i))   (TRADES's attack; r the clean logits, an input)
//	reat              REAT                   BalancedSoftmax(z, τ = 1) + λ·TailAlignment(f)  (REAT, Li et al., 2023; f the penultimate features)
//
// Paired heads (PairByName) see the clean logits z and the adversarial
// logits z' of one train step (graphs.PairHead, two forward passes of the
// same parameters), with p = softmax(z), q = softmax(z'):
//
//	trades  TRADES  (1/N)·Σ_i ℓ_i(z) + β·(1/N)·Σ_i KL(p_i ‖ q_i)                               (Zhang et al., 2019)
//	mart    MART    (1/N)·Σ_i [ℓ_i(z') − log(1.0001 − q_{i,ŷ_i})] + β·(1/N)·Σ_i KL(p_i ‖ q_i)·(1 − p_{i,y_i})  (Wang et al., 2020)
//	robal   RoBal   RoBalMargin(z') + β·(1/N)·Σ_i Σ_j p_ij·(log p_ij − log(q_ij + 1e-12))          (Wu et al., 2021)
//
// with ŷ_i the strongest wrong class on z' (see MART for the exact
// constants). TRADESHead, MARTHead and RoBalHead also fix the order of the
// passes as the authors' code runs the model.
//
// RoBal's logits are a cosine classifier's (models.CosineHead at scale 1).
// Its class-aware margin loss is
//
//	RoBalMargin = (1/N)·Σ_i −log softmax(s·(z_i − m_{y_i}·e_{y_i}) + τ_b·log π)_{y_i},
//	m_c = m + τ_m·log(n_c / min_j n_j)/s,   π_c = n_c / Σ_j n_j
//
// and a trained model is evaluated on s·z − τ_p·log π (RoBalAdjustment).
// REAT's TailAlignment reads the features the network declared for its
// logits (graphs.Features); see TailAlignment for the official code's
// exact weighting.
//
// The first column is the name used by flags, JSON and ByName; the second
// the Go function. CrossEntropyPerSample, CWPerSample, DLRPerSample and
// DLRTargetedPerSample return the [N] values before the reduction.
// BalancedSoftmaxHead, HELHead, CWHead and DLRTargetedHead bind the
// parameters and return a graphs.LossHead; KLHead declares the clean
// logits as a graph input (CleanLogitsInput).
//
// # Hierarchical equalization loss (HEL)
//
// For a batch, with ℓ_i the per-sample cross-entropy and n_c the number of
// samples of class c in the batch, the per-class loss is
//
//	L_c = Σ_{i: y_i = c} ℓ_i / (n_c + 1e-10)        (0 for a class absent from the batch)
//
// and the two variants differ in which classes the means run over.
//
// AllClasses (the default; the authors' code and the taet preset) uses all
// C classes, absent ones included with L_c = 0:
//
//	m    = (1/C)·Σ_c L_c                              BCL
//	HDL  = (1/C)·Σ_c (L_c − m)²
//	RCEL = Σ_c (L_c / (Σ_j L_j + 1e-10))²
//	HEL  = α·m + β·HDL + γ·RCEL
//
// PresentClasses (the paper's text, Eqs. 5–8) reads the paper's S_c as the
// set of classes present in the batch, P = {c : n_c > 0}, and averages over
// it:
//
//	m    = (1/|P|)·Σ_{c∈P} L_c                        BCL
//	HDL  = (1/|P|)·Σ_{c∈P} (L_c − m)²
//	RCEL = Σ_c (L_c / (Σ_j L_j + 1e-10))²              (absent classes add 0)
//	HEL  = α·m + β·HDL + γ·RCEL
//
// The paper writes 1/S_c in front of Σ_{c=1}^{C} and calls S_c "the total
// number of classes"; taken literally that is AllClasses. The variants agree
// when every class is present. α = β = γ = 0.1 by default. Every term is
// differentiated, the normaliser Σ_j L_j of RCEL included.
//
// # Reductions and signs
//
// Training heads (ce, balanced-softmax, hel) are minimised; ce and
// balanced-softmax average over the batch. The attack heads (cw, dlr,
// dlr-targeted) are what an L∞ attack ascends, and they sum over the batch
// as AutoAttack and the AT-BSL evaluation code do, so each sample's input
// gradient does not depend on the batch size (a sign step is unaffected
// either way). Carlini and Wagner minimise f = max(z_y − max_{j≠y} z_j, −κ);
// CW returns −f = min(max_{j≠y} z_j − z_y, κ), which stops growing once
// the wrong class leads by κ (κ = 50 in the AT-BSL evaluation).
//
// # Sorting and ties
//
// The builder has no TopK op. The sorted logits z_π1 ≥ z_π2 ≥ … that DLR
// needs are taken one at a time: ArgMax picks the first index of the
// largest remaining logit, GatherElements reads it (so its gradient goes
// to exactly that logit), and Where masks it out before the next ArgMax.
// Tied logits are thus ordered by index. max_{j≠y} z_j is a ReduceMax over
// the logits with the label's entry masked out; a tie splits its gradient
// evenly between the tied logits. Ties are where these losses have kinks,
// and finite-difference checks must stay away from them.
//
// # Errors
//
// Like the rest of the graph-building code, the heads panic with a
// *graphs.BuildError (which graphs.Build returns as an error) when shapes or
// parameters are wrong: logits not float32 [N, C], labels not int64 [N],
// class counts not C positive numbers, C < 3 for DLR or C < 4 for
// DLRTargeted. ByName checks what it can without a graph and returns errors.
package losses
