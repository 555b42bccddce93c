// Package onednn gives ONNX Runtime CPU sessions kernels of oneDNN (Intel's
// deep-learning primitives, Debian's libdnnl2), as custom operators of the
// domain "ai.taet.onednn" registered on the session options (Register): C
// glue only, oneDNN does the arithmetic.
//
// # Ops
//
// The first three are a 2-D convolution y = Conv(x; w) with x [N, C, H, W],
// w [M, C/group, kH, kW] and y [N, M, OH, OW] and its gradients given
// dy = ∂L/∂y, and take Conv's attributes strides, pads, dilations,
// kernel_shape and group:
//
//	Conv(x, w) → y, ONNX Conv without a bias
//	ConvWeightGrad(x, dy) → dw[m, c, i, j] = Σ_{n,p,q} dy[n, m, p, q]·x_pad[n, g·C/group + c, p·sH + i·dH, q·sW + j·dW]
//	ConvInputGrad(dy, w; input_shape) → dx = ConvTranspose(dy; w), [N, C, H, W] = input_shape
//
// (g = m's group), all float32 in the plain layouts (NCHW, OIHW). They are
// oneDNN's forward, backward-weights and backward-data convolutions, built once per
// node and input shape (with the forward primitive they need as a hint,
// then dropped) on the layouts oneDNN prefers: the tensors are reordered
// into those and back, in memory taken from ONNX Runtime's arena for the
// run. Shapes that do not fit the attributes are an error of the run,
// naming the node.
//
//	ReluGrad(y, dy) → dx = dy·[y > 0]
//
// is the gradient of y = Relu(x) from its output: oneDNN's backward ReLU, one
// pass over the tensors seen as flat arrays, any shape.
//
//	BatchNormTraining(x, scale, bias, running_mean, running_var; epsilon, momentum) → y, running_mean', running_var', mean, var
//	BatchNormTrainingGrad(x, dy, scale, bias, mean, var; epsilon) → dx, dscale, dbias
//
// are ONNX BatchNormalization-15 in training mode (x [N, C, …]; y normalised
// with the batch's mean and biased variance, running' = momentum·running +
// (1 − momentum)·batch), which also returns the batch statistics, and its
// gradient from them: dx = (scale/σ)·(dy − mean(dy) − x̂·mean(dy·x̂)),
// dscale = Σ dy·x̂, dbias = Σ dy, sums over every axis but C. They are
// oneDNN's batch normalization forward and backward.
//
//	LayerNormTraining(x, scale, bias; axis, epsilon) → y, mean, var
//	LayerNormTrainingGrad(x, dy, scale, bias, mean, var; axis, epsilon) → dx, dscale, dbias
//
// are the same for ONNX LayerNormalization-17, which normalises each row of
// x seen as [T, C] (T the product of the axes before axis, C of the rest;
// scale and bias of the trailing axes' shape, mean and var [T]), on
// oneDNN's layer normalization.
//
// # Layouts
//
// The convolutions and the batch normalizations take an optional attribute
// block b (8 or 16; 0, the default, is plain): their 4-D tensors whose
// channels b divides (x, y, dy, dx; never the weights or the statistics)
// are then in ONNX Runtime's blocked layout, nChw{b}c ([N, C/b, H, W, b], as
// its blocked Conv and ReorderInput write them), which oneDNN's kernels
// prefer: a chain of layers passes its tensors on without a reorder in or
// out of each kernel (graphs/lower.BlockedChains).
//
// # Library
//
// libdnnl.so.2 (or the file $TAET_ONEDNN_LIB names) is opened at run time
// (Load), never linked: taet builds and runs where it is absent, and then says why (ort.CPUKernels falls back to
// the blocked kernels). The oneDNN 2.6 headers under include/ give the
// functions' types; any 2.x library serves. oneDNN runs on its OpenMP
// threads: each kernel sets the calling thread's OpenMP thread count to the
// count Register was given (the session's intra-op threads) before it runs.
package onednn
