// Package train runs taet's staged fits: the TAET method (clean
// cross-entropy, then the Hierarchical Equalization Loss on PGD examples)
// and its baselines (AT, AT-BSL) as sequences of Stages.
//
// A fit builds one train-step graph per stage loss and one input-gradient
// graph for the attack, all taking the parameters as inputs. The parameters,
// their SGD momentum and the BatchNorm running statistics live in ONNX
// Runtime tensors that wrap Go slices, shared by every session: PGD examples
// are computed on the current parameters (BatchNorm in inference mode), the
// update runs the train-step graph (BatchNorm in training mode) and SGD
// updates the slices in place (sgdStep, PyTorch's semantics).
//
// After every epoch Fit scores a held-out subset of the test split (clean
// balanced accuracy, and balanced robustness under the training PGD) and
// writes a checkpoint atomically: a safetensors file with the parameters,
// the optimizer state and a State (the resolved Config, epoch and step, the
// data split record, the metrics so far, a checksum). Everything random is
// derived from the seed, the epoch and the position in it, so a run
// interrupted between steps and resumed gives the same parameters as an
// uninterrupted one. Fit reports through an Observer and never prints.
package train
