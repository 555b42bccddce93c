// Package train runs taet's staged fits: the TAET method (clean
// cross-entropy, then the Hierarchical Equalization Loss on PGD examples)
// and its baselines (AT, AT-BSL, TRADES, MART, RoBal, REAT) as sequences
// of Stages.
//
// A Config is a fit as strings and numbers, the form checkpoints store;
// Preset gives the methods' published settings. Resolve turns a Config into
// a Spec (the network, the long-tailed data, each stage's loss, the PGD
// attack, the runtime options), parsing each setting once; a Go program can
// instead build a Spec with a network and data set of its own. Fit resolves
// and runs a Config, FitSpec runs a Spec.
//
// A fit builds one train-step graph per stage, taking the parameters as
// inputs. The parameters, their SGD momentum and the BatchNorm running
// statistics live in ONNX Runtime tensors that wrap Go slices, shared by
// every train-step session; SGD updates the slices in place (sgdStep,
// PyTorch's semantics). For every adversarial step, PGD examples are
// computed on the current parameters (BatchNorm in inference mode) through
// an input-gradient session built for that step with the parameters stored
// in the graph (package ortoracle), which runs faster than one reading them
// as inputs.
//
// The paired stages (trades, mart, robal; Stage.Paired) keep the clean batch and
// give the train step its PGD examples as a second image input: their
// graphs (graphs.PairHead) run the network on both in the order the
// authors' code calls the model, each pass updating the BatchNorm running
// statistics. The trades stage's PGD ascends the KL divergence from the
// clean batch's predictions (the kl attack loss, its reference computed
// once per batch), the others' the cross-entropy. They run on the CPU only
// so far. The robal stage trains a cosine classifier (Config.Head) whose
// checkpoint loads with RoBal's inference adjustment (checkpoint.Network);
// the fit's own per-epoch scores use the unadjusted logits. The reat
// stage's loss reads the penultimate features the network declares.
//
// After every epoch a fit scores Spec.Eval with package evaluate's runner
// (clean balanced accuracy, and balanced robustness under the training PGD)
// and writes a checkpoint atomically (package checkpoint). Everything random
// is derived from the seed, the epoch and the position in it, so a run
// interrupted between steps, or during its evaluation, and resumed gives the
// same parameters as an uninterrupted one. A fit reports through an
// Observer (nil is silent) and never prints.
package train
