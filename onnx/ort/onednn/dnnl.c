// oneDNN kernels as ONNX Runtime custom operators: C glue only, oneDNN does
// the arithmetic. The library is opened at run time (taet_dnnl_load), so
// taet builds and runs where it is absent; the headers under include/ give
// the functions' types.
#define _GNU_SOURCE // vasprintf
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glue.h"
#include "oneapi/dnnl/dnnl.h"

// The oneDNN functions the kernels call, looked up by name.
#define DNNL_FUNCS(X)                                                   \
	X(dnnl_version)                                                     \
	X(dnnl_engine_create)                                               \
	X(dnnl_stream_create)                                               \
	X(dnnl_stream_destroy)                                              \
	X(dnnl_stream_wait)                                                 \
	X(dnnl_memory_desc_init_by_tag)                                     \
	X(dnnl_memory_desc_equal)                                           \
	X(dnnl_memory_create)                                               \
	X(dnnl_memory_destroy)                                              \
	X(dnnl_memory_set_data_handle)                                      \
	X(dnnl_dilated_convolution_forward_desc_init)                       \
	X(dnnl_dilated_convolution_backward_weights_desc_init)              \
	X(dnnl_primitive_desc_create)                                       \
	X(dnnl_primitive_desc_destroy)                                      \
	X(dnnl_primitive_create)                                            \
	X(dnnl_primitive_destroy)                                           \
	X(dnnl_primitive_execute)                                           \
	X(dnnl_primitive_desc_query_md)                                     \
	X(dnnl_reorder_primitive_desc_create)                               \
	X(dnnl_memory_desc_get_size)

static struct {
#define X(f) __typeof__(f) *f;
	DNNL_FUNCS(X)
#undef X
	void (*omp_set_num_threads)(int);
	dnnl_engine_t engine;
} dn;

static char *errorf(const char *format, ...) {
	char *m = NULL;
	va_list ap;
	va_start(ap, format);
	if (vasprintf(&m, format, ap) < 0) m = NULL;
	va_end(ap);
	return m;
}

char *taet_dnnl_load(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) return errorf("%s", dlerror());
#define X(f)                                                              \
	dn.f = (__typeof__(f) *)dlsym(h, #f);                                 \
	if (dn.f == NULL) return errorf("%s has no %s", path, #f);
	DNNL_FUNCS(X)
#undef X
	// Debian's oneDNN runs its kernels on OpenMP (libgomp, a dependency of
	// the library, which dlsym searches too).
	dn.omp_set_num_threads = (void (*)(int))dlsym(h, "omp_set_num_threads");
	if (dn.omp_set_num_threads == NULL) return errorf("%s does not use OpenMP (no omp_set_num_threads)", path);
	const dnnl_version_t *v = dn.dnnl_version();
	if (v->major != DNNL_VERSION_MAJOR) {
		return errorf("%s is version %d.%d.%d, want %d.x", path, v->major, v->minor, v->patch, DNNL_VERSION_MAJOR);
	}
	dnnl_status_t s = dn.dnnl_engine_create(&dn.engine, dnnl_cpu, 0);
	if (s != dnnl_success) return errorf("create the CPU engine: oneDNN status %d", (int)s);
	return NULL;
}

const char *taet_dnnl_version(int v[3]) {
	const dnnl_version_t *d = dn.dnnl_version();
	v[0] = d->major, v[1] = d->minor, v[2] = d->patch;
	return d->hash;
}

// ---- ConvWeightGrad --------------------------------------------------------

// taet_op is a custom operator with the OpenMP thread count its kernels
// use; ORT hands &op back to the callbacks.
typedef struct {
	OrtCustomOp op;
	int threads;
} taet_op;

// arg is one tensor of a primitive: in the plain layout over ORT's buffer
// (user), and where the primitive wants another layout, in that one
// (inner, over bytes taken from ORT's allocator for the run) with the
// reorder between them.
typedef struct {
	dnnl_memory_t user, inner;
	dnnl_primitive_t reorder; // user → inner for inputs, inner → user for outputs
	size_t bytes;             // inner's size
	void *buf;                // inner's memory during a run
} arg;

static void arg_release(arg *a) {
	if (a->reorder) dn.dnnl_primitive_destroy(a->reorder);
	if (a->inner) dn.dnnl_memory_destroy(a->inner);
	if (a->user) dn.dnnl_memory_destroy(a->user);
	a->reorder = NULL, a->inner = a->user = NULL;
}

// wgrad is one ConvWeightGrad node's kernel: its attributes and the
// primitive built for the last input shapes.
typedef struct {
	const OrtApi *api;
	int threads;
	char name[256];
	int64_t strides[2], pads[4], dilations[2], kernel[2], group;
	pthread_mutex_t mu;
	int64_t x[4], dy[4]; // the shapes prim was built for; x[0] == 0: none yet
	dnnl_primitive_t prim;
	dnnl_stream_t stream;
	arg src, diff_dst, diff_w;
	OrtMemoryInfo *cpu; // where the inner layouts' memory comes from
} wgrad;

static const char *wg_name(const OrtCustomOp *op) { (void)op; return "ConvWeightGrad"; }
static const char *wg_provider(const OrtCustomOp *op) { (void)op; return NULL; }
static ONNXTensorElementDataType wg_type(const OrtCustomOp *op, size_t i) {
	(void)op, (void)i;
	return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
}
static size_t wg_inputs(const OrtCustomOp *op) { (void)op; return 2; }
static size_t wg_outputs(const OrtCustomOp *op) { (void)op; return 1; }
static OrtCustomOpInputOutputCharacteristic wg_required(const OrtCustomOp *op, size_t i) {
	(void)op, (void)i;
	return INPUT_OUTPUT_REQUIRED;
}
static OrtMemType wg_memtype(const OrtCustomOp *op, size_t i) { (void)op, (void)i; return OrtMemTypeDefault; }
static int wg_zero(const OrtCustomOp *op) { (void)op; return 0; }
static int wg_one(const OrtCustomOp *op) { (void)op; return 1; }

// status returns an ORT error status with the formatted message.
static OrtStatus *status(const OrtApi *api, OrtErrorCode code, const char *format, ...) {
	char m[1024];
	va_list ap;
	va_start(ap, format);
	vsnprintf(m, sizeof m, format, ap);
	va_end(ap);
	return api->CreateStatus(code, m);
}

#define RETURN_IF(call)                        \
	do {                                       \
		OrtStatus *st_ = (call);               \
		if (st_ != NULL) return st_;           \
	} while (0)

// ints reads the int64 array attribute name of exactly n values into out.
static OrtStatus *ints(const OrtApi *api, const OrtKernelInfo *info, const char *node, const char *name, int64_t *out, size_t n) {
	size_t got = n;
	OrtStatus *s = api->KernelInfoGetAttributeArray_int64(info, name, out, &got);
	if (s != NULL) {
		api->ReleaseStatus(s);
		return status(api, ORT_INVALID_GRAPH, "ConvWeightGrad %s: attribute %s: want %zu integers", node, name, n);
	}
	if (got != n) return status(api, ORT_INVALID_GRAPH, "ConvWeightGrad %s: attribute %s has %zu values, want %zu", node, name, got, n);
	return NULL;
}

static void wg_release(wgrad *w) {
	if (w->prim) dn.dnnl_primitive_destroy(w->prim);
	w->prim = NULL;
	arg_release(&w->src), arg_release(&w->diff_dst), arg_release(&w->diff_w);
	w->x[0] = 0;
}

static void wg_destroy(void *k) {
	wgrad *w = k;
	if (w == NULL) return;
	wg_release(w);
	if (w->stream) dn.dnnl_stream_destroy(w->stream);
	if (w->cpu) w->api->ReleaseMemoryInfo(w->cpu);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static OrtStatus *wg_create(const OrtCustomOp *op, const OrtApi *api, const OrtKernelInfo *info, void **out) {
	wgrad *w = calloc(1, sizeof *w);
	if (w == NULL) return api->CreateStatus(ORT_FAIL, "ConvWeightGrad: out of memory");
	w->api = api;
	w->threads = ((const taet_op *)op)->threads;
	pthread_mutex_init(&w->mu, NULL);
	size_t n = sizeof w->name;
	OrtStatus *s = api->KernelInfo_GetNodeName(info, w->name, &n);
	if (s != NULL) api->ReleaseStatus(s), strcpy(w->name, "?");
	if ((s = ints(api, info, w->name, "strides", w->strides, 2)) != NULL ||
	    (s = ints(api, info, w->name, "pads", w->pads, 4)) != NULL ||
	    (s = ints(api, info, w->name, "dilations", w->dilations, 2)) != NULL ||
	    (s = ints(api, info, w->name, "kernel_shape", w->kernel, 2)) != NULL ||
	    (s = api->KernelInfoGetAttribute_int64(info, "group", &w->group)) != NULL) {
		wg_destroy(w);
		return s;
	}
	if (w->group < 1 || w->strides[0] < 1 || w->strides[1] < 1 || w->dilations[0] < 1 || w->dilations[1] < 1 ||
	    w->kernel[0] < 1 || w->kernel[1] < 1) {
		wg_destroy(w);
		return status(api, ORT_INVALID_GRAPH, "ConvWeightGrad %s: group, strides, dilations and kernel_shape must be ≥ 1", w->name);
	}
	if ((s = api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &w->cpu)) != NULL) {
		wg_destroy(w);
		return s;
	}
	dnnl_status_t ds = dn.dnnl_stream_create(&w->stream, dn.engine, dnnl_stream_default_flags);
	if (ds != dnnl_success) {
		wg_destroy(w);
		return status(api, ORT_RUNTIME_EXCEPTION, "ConvWeightGrad %s: oneDNN stream: status %d", w->name, (int)ds);
	}
	*out = w;
	return NULL;
}

// shape4 reads the 4-D shape of v into d.
static OrtStatus *shape4(wgrad *w, const OrtValue *v, const char *what, int64_t d[4]) {
	const OrtApi *api = w->api;
	OrtTensorTypeAndShapeInfo *info;
	RETURN_IF(api->GetTensorTypeAndShape(v, &info));
	size_t n = 0;
	OrtStatus *s = api->GetDimensionsCount(info, &n);
	if (s == NULL && n != 4) s = status(api, ORT_INVALID_ARGUMENT, "ConvWeightGrad %s: %s has rank %zu, want 4", w->name, what, n);
	if (s == NULL) s = api->GetDimensions(info, d, 4);
	api->ReleaseTensorTypeAndShapeInfo(info);
	return s;
}

#define DNNL_TRY(call, what)                                                                                  \
	do {                                                                                                      \
		dnnl_status_t ds_ = (call);                                                                           \
		if (ds_ != dnnl_success) {                                                                            \
			err = status(w->api, ORT_RUNTIME_EXCEPTION, "ConvWeightGrad %s: oneDNN %s: status %d", w->name, what, (int)ds_); \
			goto done;                                                                                        \
		}                                                                                                     \
	} while (0)

// arg_init makes a's memories: user over plain, and where the primitive's
// layout want differs, inner and the reorder (to inner when input).
static dnnl_status_t arg_init(arg *a, const dnnl_memory_desc_t *plain, const dnnl_memory_desc_t *want, int input) {
	dnnl_status_t s = dn.dnnl_memory_create(&a->user, plain, dn.engine, DNNL_MEMORY_NONE);
	if (s != dnnl_success || dn.dnnl_memory_desc_equal(plain, want)) return s;
	if ((s = dn.dnnl_memory_create(&a->inner, want, dn.engine, DNNL_MEMORY_NONE)) != dnnl_success) return s;
	a->bytes = dn.dnnl_memory_desc_get_size(want);
	dnnl_primitive_desc_t pd;
	s = input ? dn.dnnl_reorder_primitive_desc_create(&pd, plain, dn.engine, want, dn.engine, NULL)
	          : dn.dnnl_reorder_primitive_desc_create(&pd, want, dn.engine, plain, dn.engine, NULL);
	if (s != dnnl_success) return s;
	s = dn.dnnl_primitive_create(&a->reorder, pd);
	dn.dnnl_primitive_desc_destroy(pd);
	return s;
}

// wg_build makes the backward-weights primitive for x [N,C,H,W] and dy
// [N,M,OH,OW], given in plain layouts (NCHW, OIHW or GOIHW), on the
// layouts oneDNN prefers (format any), reordered from and to the plain
// ones where they differ. On the plain layouts themselves oneDNN 2.6 runs an
// im2col + GEMM kernel, 6× slower than its blocked one with the reorders
// (N=128, 64→64 channels, 32×32, 3×3: 1.5 s against 0.25 s, 2 threads).
static OrtStatus *wg_build(wgrad *w, const int64_t x[4], const int64_t dy[4]) {
	OrtStatus *err = NULL;
	dnnl_primitive_desc_t fwd = NULL, bwd = NULL;
	int64_t g = w->group, m = dy[1], c = x[1];
	dnnl_dims_t xd = {x[0], x[1], x[2], x[3]}, yd = {dy[0], dy[1], dy[2], dy[3]};
	dnnl_dims_t wd = {m, c / g, w->kernel[0], w->kernel[1]};
	dnnl_dims_t gwd = {g, m / g, c / g, w->kernel[0], w->kernel[1]};
	dnnl_dims_t strides = {w->strides[0], w->strides[1]};
	dnnl_dims_t dil = {w->dilations[0] - 1, w->dilations[1] - 1}; // oneDNN counts the gaps
	dnnl_dims_t pl = {w->pads[0], w->pads[1]}, pr = {w->pads[2], w->pads[3]};
	dnnl_memory_desc_t src_md, dst_md, w_md, src_any, dst_any, w_any;
	dnnl_convolution_desc_t fd, bd;
	wg_release(w);
	DNNL_TRY(dn.dnnl_memory_desc_init_by_tag(&src_md, 4, xd, dnnl_f32, dnnl_nchw), "input layout");
	DNNL_TRY(dn.dnnl_memory_desc_init_by_tag(&dst_md, 4, yd, dnnl_f32, dnnl_nchw), "gradient layout");
	if (g == 1) {
		DNNL_TRY(dn.dnnl_memory_desc_init_by_tag(&w_md, 4, wd, dnnl_f32, dnnl_oihw), "weight layout");
	} else {
		DNNL_TRY(dn.dnnl_memory_desc_init_by_tag(&w_md, 5, gwd, dnnl_f32, dnnl_goihw), "weight layout");
	}
	DNNL_TRY(dn.dnnl_memory_desc_init_by_tag(&src_any, 4, xd, dnnl_f32, dnnl_format_tag_any), "input layout");
	DNNL_TRY(dn.dnnl_memory_desc_init_by_tag(&dst_any, 4, yd, dnnl_f32, dnnl_format_tag_any), "gradient layout");
	DNNL_TRY(dn.dnnl_memory_desc_init_by_tag(&w_any, g == 1 ? 4 : 5, g == 1 ? wd : gwd, dnnl_f32, dnnl_format_tag_any), "weight layout");
	DNNL_TRY(dn.dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
	                                                       &src_any, &w_any, NULL, &dst_any, strides, dil, pl, pr),
	         "forward descriptor");
	DNNL_TRY(dn.dnnl_primitive_desc_create(&fwd, &fd, NULL, dn.engine, NULL), "forward primitive descriptor");
	DNNL_TRY(dn.dnnl_dilated_convolution_backward_weights_desc_init(&bd, dnnl_convolution_direct, &src_any, &w_any,
	                                                                NULL, &dst_any, strides, dil, pl, pr),
	         "backward-weights descriptor");
	DNNL_TRY(dn.dnnl_primitive_desc_create(&bwd, &bd, NULL, dn.engine, fwd), "backward-weights primitive descriptor");
	DNNL_TRY(dn.dnnl_primitive_create(&w->prim, bwd), "backward-weights primitive");
	DNNL_TRY(arg_init(&w->src, &src_md, dn.dnnl_primitive_desc_query_md(bwd, dnnl_query_src_md, 0), 1), "input memory");
	DNNL_TRY(arg_init(&w->diff_dst, &dst_md, dn.dnnl_primitive_desc_query_md(bwd, dnnl_query_diff_dst_md, 0), 1), "gradient memory");
	DNNL_TRY(arg_init(&w->diff_w, &w_md, dn.dnnl_primitive_desc_query_md(bwd, dnnl_query_diff_weights_md, 0), 0), "weight memory");
	memcpy(w->x, x, sizeof w->x);
	memcpy(w->dy, dy, sizeof w->dy);
done:
	if (bwd) dn.dnnl_primitive_desc_destroy(bwd);
	if (fwd) dn.dnnl_primitive_desc_destroy(fwd);
	if (err != NULL) wg_release(w);
	return err;
}

// reorder runs a's reorder, if any.
static dnnl_status_t reorder(wgrad *w, arg *a, int input) {
	if (a->reorder == NULL) return dnnl_success;
	dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, input ? a->user : a->inner}, {DNNL_ARG_TO, input ? a->inner : a->user}};
	return dn.dnnl_primitive_execute(a->reorder, w->stream, 2, args);
}

// mem returns the memory the primitive reads or writes for a.
static dnnl_memory_t mem(arg *a) { return a->inner ? a->inner : a->user; }

// wg_compute: dW[M, C/g, kH, kW] from x[N, C, H, W] and dy[N, M, OH, OW].
static OrtStatus *wg_compute(void *k, OrtKernelContext *ctx) {
	wgrad *w = k;
	const OrtApi *api = w->api;
	const OrtValue *xv, *gv;
	int64_t x[4], dy[4];
	RETURN_IF(api->KernelContext_GetInput(ctx, 0, &xv));
	RETURN_IF(api->KernelContext_GetInput(ctx, 1, &gv));
	RETURN_IF(shape4(w, xv, "x", x));
	RETURN_IF(shape4(w, gv, "dy", dy));
	int64_t g = w->group;
	if (x[0] != dy[0] || x[1] % g != 0 || dy[1] % g != 0) {
		return status(api, ORT_INVALID_ARGUMENT, "ConvWeightGrad %s: x [%lld %lld %lld %lld] and dy [%lld %lld %lld %lld] do not fit group %lld",
		              w->name, (long long)x[0], (long long)x[1], (long long)x[2], (long long)x[3],
		              (long long)dy[0], (long long)dy[1], (long long)dy[2], (long long)dy[3], (long long)g);
	}
	for (int a = 0; a < 2; a++) {
		int64_t span = w->dilations[a] * (w->kernel[a] - 1) + 1;
		int64_t o = (x[2 + a] + w->pads[a] + w->pads[2 + a] - span) / w->strides[a] + 1;
		if (o != dy[2 + a]) {
			return status(api, ORT_INVALID_ARGUMENT, "ConvWeightGrad %s: dy has %lld along axis %d, the convolution of x gives %lld",
			              w->name, (long long)dy[2 + a], 2 + a, (long long)o);
		}
	}
	int64_t wd[4] = {dy[1], x[1] / g, w->kernel[0], w->kernel[1]};
	OrtValue *wv;
	RETURN_IF(api->KernelContext_GetOutput(ctx, 0, wd, 4, &wv));
	void *xp, *gp, *wp;
	RETURN_IF(api->GetTensorMutableData((OrtValue *)xv, &xp));
	RETURN_IF(api->GetTensorMutableData((OrtValue *)gv, &gp));
	RETURN_IF(api->GetTensorMutableData(wv, &wp));

	OrtStatus *err = NULL;
	OrtAllocator *alloc = NULL;
	arg *inner[] = {&w->src, &w->diff_dst, &w->diff_w};
	pthread_mutex_lock(&w->mu);
	if (w->x[0] == 0 || memcmp(w->x, x, sizeof w->x) != 0 || memcmp(w->dy, dy, sizeof w->dy) != 0) {
		if ((err = wg_build(w, x, dy)) != NULL) goto done;
	}
	DNNL_TRY(dn.dnnl_memory_set_data_handle(w->src.user, xp), "input handle");
	DNNL_TRY(dn.dnnl_memory_set_data_handle(w->diff_dst.user, gp), "gradient handle");
	DNNL_TRY(dn.dnnl_memory_set_data_handle(w->diff_w.user, wp), "weight handle");
	for (int i = 0; i < 3; i++) {
		arg *a = inner[i];
		if (a->inner == NULL) continue;
		if (alloc == NULL && (err = api->KernelContext_GetAllocator(ctx, w->cpu, &alloc)) != NULL) goto done;
		if ((a->buf = alloc->Alloc(alloc, a->bytes)) == NULL) {
			err = status(api, ORT_FAIL, "ConvWeightGrad %s: out of memory (%zu bytes)", w->name, a->bytes);
			goto done;
		}
		DNNL_TRY(dn.dnnl_memory_set_data_handle(a->inner, a->buf), "reordered handle");
	}
	dnnl_exec_arg_t args[] = {
		{DNNL_ARG_SRC, mem(&w->src)}, {DNNL_ARG_DIFF_DST, mem(&w->diff_dst)}, {DNNL_ARG_DIFF_WEIGHTS, mem(&w->diff_w)},
	};
	// The OpenMP thread count is per calling thread, and ORT may call from
	// any: set it every time (it costs nothing).
	dn.omp_set_num_threads(w->threads);
	DNNL_TRY(reorder(w, &w->src, 1), "reorder the input");
	DNNL_TRY(reorder(w, &w->diff_dst, 1), "reorder the gradient");
	DNNL_TRY(dn.dnnl_primitive_execute(w->prim, w->stream, 3, args), "execute");
	DNNL_TRY(reorder(w, &w->diff_w, 0), "reorder the weight gradient");
	DNNL_TRY(dn.dnnl_stream_wait(w->stream), "wait");
done:
	for (int i = 0; i < 3; i++) {
		arg *a = inner[i];
		if (a->buf != NULL) alloc->Free(alloc, a->buf);
		a->buf = NULL;
	}
	if (alloc != NULL) api->ReleaseAllocator(alloc);
	pthread_mutex_unlock(&w->mu);
	return err;
}

char *taet_dnnl_domain(const OrtApi *api, const char *domain, int threads, OrtCustomOpDomain **out) {
	taet_op *op = calloc(1, sizeof *op); // lives as long as the process: sessions keep pointing at it
	if (op == NULL) return errorf("out of memory");
	op->threads = threads;
	OrtCustomOp *o = &op->op;
	o->version = ORT_API_VERSION;
	o->GetName = wg_name;
	o->GetExecutionProviderType = wg_provider;
	o->GetInputType = wg_type;
	o->GetInputTypeCount = wg_inputs;
	o->GetOutputType = wg_type;
	o->GetOutputTypeCount = wg_outputs;
	o->KernelDestroy = wg_destroy;
	o->GetInputCharacteristic = wg_required;
	o->GetOutputCharacteristic = wg_required;
	o->GetInputMemoryType = wg_memtype;
	o->GetVariadicInputMinArity = wg_one;
	o->GetVariadicInputHomogeneity = wg_zero;
	o->GetVariadicOutputMinArity = wg_one;
	o->GetVariadicOutputHomogeneity = wg_zero;
	o->CreateKernelV2 = wg_create;
	o->KernelComputeV2 = wg_compute;
	o->GetStartVersion = wg_one;
	OrtStatus *s = api->CreateCustomOpDomain(domain, out);
	if (s == NULL) s = api->CustomOpDomain_Add(*out, o);
	if (s != NULL) {
		char *m = errorf("%s", api->GetErrorMessage(s));
		api->ReleaseStatus(s);
		return m;
	}
	return NULL;
}

char *taet_dnnl_add(const OrtApi *api, OrtSessionOptions *so, OrtCustomOpDomain *dom) {
	OrtStatus *s = api->AddCustomOpDomain(so, dom);
	if (s == NULL) return NULL;
	char *m = errorf("%s", api->GetErrorMessage(s));
	api->ReleaseStatus(s);
	return m;
}
