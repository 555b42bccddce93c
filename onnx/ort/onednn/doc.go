// Package onednn gives ONNX Runtime CPU sessions kernels of oneDNN (Intel's
// deep-learning primitives, Debian's libdnnl2), as custom operators of the
// domain "ai.taet.onednn" registered on the session options (Register): C
// glue only, oneDNN does the arithmetic.
//
// # Ops
//
// ConvWeightGrad(x, dy) → dW, attributes strides, pads, dilations,
// kernel_shape (all as ONNX Conv's) and group: the weight gradient of a
// 2-D convolution,
//
//	dW[m, c, i, j] = Σ_{n,p,q} dy[n, m, p, q]·x_pad[n, g·C/group + c, p·sH + i·dH, q·sW + j·dW]
//
// for x [N, C, H, W], dy [N, M, OH, OW], dW [M, C/group, kH, kW] (g = m's
// group), all float32 in the plain layouts (NCHW, OIHW). It is oneDNN's
// backward-weights convolution, built once per node and input shape (the
// forward primitive it needs as a hint is built with it and dropped) and
// run on the tensors' own memory, with no copies. Shapes that do not fit
// the attributes are an error of the run, naming the node.
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
