package attacks

// Oracle evaluates a classifier and the gradient of an attack loss for a
// batch of images. Attacks only ever talk to an Oracle, so they are pure Go
// iterations: package ortoracle backs it with ONNX Runtime sessions (a
// network's input-gradient graphs, or an exported file's logits), and tests
// with classifiers whose gradients are known.
//
// Shapes: x is [N, C, H, W] in [0, 1] (row-major), y and target are [N]
// int64 labels, logits is [N, K] and grad is [N, C, H, W]. N is fixed by the
// oracle (Batch); callers pad a short last batch.
//
// An attack that needs a particular loss (APGD-T needs targeted DLR) gets
// an Oracle for it from an OracleSet.
type Oracle interface {
	// Batch returns N, the fixed number of images per call.
	Batch() int
	// Classes returns K.
	Classes() int
	// Eval writes the logits at x into logits and, when grad is not nil,
	// the gradient at x of the summed per-sample attack loss
	// Σ_i ℓ(x_i, y_i[, target_i]) into grad. The loss is the oracle's
	// (named by Loss); target is nil for untargeted losses.
	Eval(x []float32, y, target []int64, logits, grad []float32) error
	// Loss names the attack loss: "ce", "cw", "dlr", "dlr-targeted", ….
	Loss() string
}

// OracleSet returns an Oracle for the named attack loss over the same
// classifier (same parameters, batch size and image shape).
type OracleSet func(loss string) (Oracle, error)

// ReferenceOracle is an Oracle whose loss compares the logits at x with
// those of a reference batch: the "kl" loss, TRADES's attack, ascends
// Σ_i KL(softmax(r_i) ‖ softmax(z_i(x))) from the clean batch's logits r.
// SetReference sets r [N, K] (copied); every later Eval with a gradient
// compares with it. PGD sets it, once per batch, to the oracle's logits at
// the clean images, before its first step.
type ReferenceOracle interface {
	Oracle
	SetReference(logits []float32)
}
