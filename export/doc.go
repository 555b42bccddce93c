// Package export turns a trained network into files other tools run: a
// deployable ONNX inference graph, or a safetensors state dict that
// PyTorch loads into torchvision's models. It also describes any ONNX
// file (Summarize), for `taetctl inspect`.
//
// # The inference graph
//
// ONNX returns x → logits: input x float32 [N, C, H, W] with pixels in
// [0, 1] (no normalisation: the network takes raw pixels, as in training
// and attacks), output logits float32 [N, K], parameters stored as
// initializers, BatchNormalization in inference mode. N is a dynamic
// dimension (dim_param "N"): one file serves every batch size.
//
// # Dynamic batch
//
// The graph builder resolves every shape statically (graphs.Reshape stores
// the resolved target shape), so ONNX builds the eval graph
// (graphs.EvalGraph) twice, at batch 2 and at batch 3, and compares the
// two node by node. Structure and attributes must agree; the int64
// constants that differ are the ones that depend on the batch. Each must
// differ in exactly one entry and feed only Reshape or Expand nodes:
//
//   - a Reshape target gets −1 there (ONNX infers it from the other,
//     batch-free, dimensions);
//   - an Expand shape, whose entry must be the batch itself (the ViT's
//     class token), is computed at run time from Shape(x)[0:1].
//
// Anything else is an error rather than a silently static graph. Input and
// output dimension 0 become dim_param "N".
//
// # BatchNorm folding
//
// Unless Options.KeepBatchNorm is set, FoldBatchNorm folds every
// inference-mode BatchNormalization that directly follows a Conv (the only
// consumer of the Conv's output, every operand an initializer) into that
// Conv, per output channel c:
//
//	s_c = γ_c / √(σ²_c + ε),  W'_c = W_c · s_c,  b'_c = (b_c − μ_c) · s_c + β_c
//
// computed in float64 and stored as float32. The Conv gains a bias (named
// like its weight, ".weight" → ".bias"), takes over the BatchNormalization's
// output name, and the BatchNormalization node and its now unused
// initializers go. Metadata key "batchnorm" says "folded" or "kept".
//
// # Metadata
//
// ONNX writes metadata_props (all strings; see Metadata): the model and its
// sizes, the input's name, layout, shape and range, the class names when the
// data set names them (JSON array), and, from the checkpoint, the method and
// its stages, the training ε, the data set and imbalance ratio, the last
// epoch's clean balanced accuracy and balanced robustness under the
// training PGD, and taet's versions (exporting and training).
//
// # Verification
//
// Verify runs serialized model bytes on ONNX Runtime and compares their
// logits with the network's reference: the unfolded eval graph at a static
// batch, as training evaluated it. It fails (ErrMismatch) when the largest
// absolute difference exceeds tolerance · max(1, max |reference logit|).
// Callers verify the bytes before writing them, so a file on disk has
// passed.
//
// # State dicts
//
// taet names parameters after torchvision's state-dict keys, so SafeTensors
// writes the checkpoint's parameters and BatchNorm buffers as they are
// (unfolded), float32, in graph order. torchvision's BatchNorm adds its own
// num_batches_tracked when a plain dict lacks it, so none is written and
// load_state_dict(strict=True) accepts the file.
package export
