// Package evaluate measures a classifier's balanced accuracy and balanced
// robustness on a test set under attacks, as `taetctl eval` and the
// per-epoch evaluation of train.Fit do.
//
// A Target is the classifier: a checkpoint (OpenCheckpoint, any attack),
// an ONNX file exported by taetctl export (OpenONNX, gradient-free attacks
// only) or a network with its parameters in memory (NewTarget).
// LoadTestSet prepares the test images: the test split, optionally
// long-tailed with an imbalance ratio, optionally a seeded subset. A Runner
// attacks them batch by batch, honours a context.Context within one attack
// iteration and can save its progress to a state file to resume later. Its
// Results are typed values (per-class recall, balanced robustness, the
// worst class, the largest perturbation; see package eval): formatting them
// is the caller's business.
//
// Target.CapBatch bounds the sessions' batch before they are built: to the
// test images (a larger batch attacks padding only) and to a memory budget
// (MemoryBudget), from the activations an image adds (ActivationBytes).
// A Record is what is stored; LoadRecord reads at most RecordCap bytes and
// checks every number (Record.Check), and Record.Of tells a run's own
// record from one of another checkpoint by its Identity.
package evaluate
