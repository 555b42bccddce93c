// The C side of package onednn: oneDNN loaded at run time, and its kernels
// as ONNX Runtime custom operators.
#ifndef TAET_ONEDNN_GLUE_H
#define TAET_ONEDNN_GLUE_H

#include "onnxruntime_c_api.h"

// taet_dnnl_load opens the oneDNN library at path, looks up the functions
// the kernels call and creates the CPU engine. It returns NULL, or what
// failed (malloc'd: the caller frees it).
char *taet_dnnl_load(const char *path);

// taet_dnnl_version fills v with the loaded library's major, minor and
// patch version and returns its git hash.
const char *taet_dnnl_version(int v[3]);

// taet_dnnl_domain creates the custom-op domain (domain, threads: the
// OpenMP threads each kernel runs with) in *out; NULL or the error (malloc'd).
char *taet_dnnl_domain(const OrtApi *api, const char *domain, int threads, OrtCustomOpDomain **out);

// taet_dnnl_add adds dom to the session options so; NULL or the error (malloc'd).
char *taet_dnnl_add(const OrtApi *api, OrtSessionOptions *so, OrtCustomOpDomain *dom);

#endif
