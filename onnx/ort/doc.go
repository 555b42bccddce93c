// Package ort runs ONNX models with ONNX Runtime. It and its subpackage
// onednn (oneDNN kernels as custom operators) are the only packages of taet
// that use cgo; it is the only importer of github.com/yalue/onnxruntime_go.
//
// # Library
//
// The runtime is a shared library loaded at run time (Init), not linked: the
// rest of taet builds and tests without it. LibraryPath resolves which file to
// load: an explicit path (the --ort-lib flag or TAET_ORT_LIB), then
// third_party/onnxruntime/libonnxruntime.so.1 in the working directory, any of
// its parents or beside the executable (where scripts/install-ort.sh puts it),
// then the dynamic loader's search path. A missing or unusable library is an
// error wrapping ErrNoRuntime that says how to install one, never a crash.
//
// # Sessions and tensors
//
// A Session is created from in-memory model bytes with named inputs and
// outputs, on the CPU execution provider (explicit thread count) or the CUDA
// one. Tensors wrap Go slices without copying: the runtime reads inputs from,
// and writes preallocated outputs into, the slice that Tensor.Data returns,
// so a training loop updates parameters in place between runs.
//
// # Device memory and CUDA
//
// A Binding runs a session with outputs left in the device's memory
// (DeviceTensor) and bound back as later inputs, so state such as a
// network's parameters stays on a GPU between runs (iobinding.go, the few C
// API calls onnxruntime_go does not wrap). Before the first CUDA session the
// CUDA libraries the provider needs are found (CUDASearchDirs: pip wheels,
// toolkits, LD_LIBRARY_PATH) and loaded with their symbols global.
//
// # CPU kernels
//
// Options.Kernels (CPUKernels) chooses how CPU sessions run the graphs
// that package graphs/lower rewrites: blocked-layout convolutions, and with
// OneDNN (the Default where libdnnl.so.2 loads) the convolution and ReLU
// gradients on oneDNN, whose custom-op domain a CPU session then registers
// (package onednn), with ONNX Runtime's intra-op threads not spinning.
//
// Everything that holds runtime memory has a Close method.
package ort
