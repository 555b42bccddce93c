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
	X(dnnl_dilated_convolution_backward_data_desc_init)                 \
	X(dnnl_eltwise_forward_desc_init)                                   \
	X(dnnl_eltwise_backward_desc_init)                                  \
	X(dnnl_batch_normalization_forward_desc_init)                       \
	X(dnnl_batch_normalization_backward_desc_init)                      \
	X(dnnl_layer_normalization_forward_desc_init)                       \
	X(dnnl_layer_normalization_backward_desc_init)                      \
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

// ---- The convolution gradients ---------------------------------------------
//
// The three ops describe the convolution y = conv(x; w) they compute or
// differentiate by its attributes; oneDNN's primitives take x [N,C,H,W],
// w [M,C/g,kH,kW] (5-D [g,M/g,C/g,kH,kW] when grouped) and y or dy [N,M,OH,OW].
//
//	Conv(x, w; strides, pads, dilations, kernel_shape, group) → y
//	ConvWeightGrad(x, dy; strides, pads, dilations, kernel_shape, group) → dw
//	ConvInputGrad(dy, w; strides, pads, dilations, kernel_shape, group, input_shape) → dx

// kind is what a kernel computes.
typedef enum { CONV, WEIGHT_GRAD, INPUT_GRAD, RELU_GRAD, BN, BN_GRAD, LN, LN_GRAD } kind;

static const char *kind_name[] = {"Conv", "ConvWeightGrad", "ConvInputGrad", "ReluGrad",
                                  "BatchNormTraining", "BatchNormTrainingGrad", "LayerNormTraining", "LayerNormTrainingGrad"};

// The inputs and outputs of each kind.
static const size_t kind_inputs[] = {2, 2, 2, 2, 5, 6, 3, 6}, kind_outputs[] = {1, 1, 1, 1, 5, 3, 3, 3};

// taet_op is a custom operator with the OpenMP thread count its kernels
// use; ORT hands &op back to the callbacks.
typedef struct {
	OrtCustomOp op;
	kind kind;
	int threads;
} taet_op;

// arg is one tensor of a primitive: in the plain layout over ORT's buffer
// (user), and where the primitive wants another layout, in that one
// (inner, over bytes taken from ORT's allocator for the run) with the
// reorder between them.
typedef struct {
	dnnl_memory_t user, inner;
	dnnl_primitive_t reorder; // user → inner for inputs, inner → user for outputs
	int input;
	size_t bytes; // inner's size
	void *buf;    // inner's memory during a run
} arg;

static void arg_release(arg *a) {
	if (a->reorder) dn.dnnl_primitive_destroy(a->reorder);
	if (a->inner) dn.dnnl_memory_destroy(a->inner);
	if (a->user) dn.dnnl_memory_destroy(a->user);
	a->reorder = NULL, a->inner = a->user = NULL;
}

// kernel is what every kernel holds: the API, its OpenMP thread count, its
// op and node names (for errors), a lock over its cached primitives and a
// oneDNN stream.
typedef struct {
	const OrtApi *api;
	int threads;
	const char *op;
	char name[256];
	pthread_mutex_t mu;
	dnnl_stream_t stream;
} kernel;

// conv is one node's kernel: its attributes and the primitive built for
// the last shapes.
typedef struct {
	kernel base;
	kind kind;
	int64_t strides[2], pads[4], dilations[2], kernel[2], group, input_shape[4];
	int64_t block; // x or dx, and y or dy, whose channels it divides in nChw{block}c; 0: all plain
	int64_t x[4], dy[4]; // the shapes prim was built for (dy: y's for Conv); x[0] == 0: none yet
	dnnl_primitive_t prim;
	arg src, dst, wei;  // x or dx, y or dy, w or dw
	OrtMemoryInfo *cpu; // where the inner layouts' memory comes from
} conv;

static const char *op_name(const OrtCustomOp *op) { return kind_name[((const taet_op *)op)->kind]; }
static const char *op_provider(const OrtCustomOp *op) { (void)op; return NULL; }
static ONNXTensorElementDataType op_type(const OrtCustomOp *op, size_t i) {
	(void)op, (void)i;
	return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
}
static size_t op_inputs(const OrtCustomOp *op) { return kind_inputs[((const taet_op *)op)->kind]; }
static size_t op_outputs(const OrtCustomOp *op) { return kind_outputs[((const taet_op *)op)->kind]; }
static OrtCustomOpInputOutputCharacteristic op_required(const OrtCustomOp *op, size_t i) {
	(void)op, (void)i;
	return INPUT_OUTPUT_REQUIRED;
}
static OrtMemType op_memtype(const OrtCustomOp *op, size_t i) { (void)op, (void)i; return OrtMemTypeDefault; }
static int op_zero(const OrtCustomOp *op) { (void)op; return 0; }
static int op_one(const OrtCustomOp *op) { (void)op; return 1; }

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

// kernel_init fills k for a node of op.
static OrtStatus *kernel_init(kernel *k, const OrtCustomOp *op, const OrtApi *api, const OrtKernelInfo *info) {
	k->api = api;
	k->threads = ((const taet_op *)op)->threads;
	k->op = kind_name[((const taet_op *)op)->kind];
	pthread_mutex_init(&k->mu, NULL);
	size_t n = sizeof k->name;
	OrtStatus *s = api->KernelInfo_GetNodeName(info, k->name, &n);
	if (s != NULL) api->ReleaseStatus(s), strcpy(k->name, "?");
	dnnl_status_t ds = dn.dnnl_stream_create(&k->stream, dn.engine, dnnl_stream_default_flags);
	if (ds != dnnl_success) {
		k->stream = NULL;
		return status(api, ORT_RUNTIME_EXCEPTION, "%s %s: oneDNN stream: status %d", k->op, k->name, (int)ds);
	}
	return NULL;
}

// kernel_free releases what kernel_init made.
static void kernel_free(kernel *k) {
	if (k->stream) dn.dnnl_stream_destroy(k->stream);
	pthread_mutex_destroy(&k->mu);
}

// DNNL_TRY runs a oneDNN call of kernel k; on failure it sets err and goes
// to done.
#define DNNL_TRY(k, call, what)                                                                                \
	do {                                                                                                       \
		dnnl_status_t ds_ = (call);                                                                            \
		if (ds_ != dnnl_success) {                                                                             \
			err = status((k)->api, ORT_RUNTIME_EXCEPTION, "%s %s: oneDNN %s: status %d", (k)->op, (k)->name, what, (int)ds_); \
			goto done;                                                                                         \
		}                                                                                                      \
	} while (0)

// ints reads the int64 array attribute name of exactly n values into out.
static OrtStatus *ints(conv *c, const OrtKernelInfo *info, const char *name, int64_t *out, size_t n) {
	const OrtApi *api = c->base.api;
	size_t got = n;
	OrtStatus *s = api->KernelInfoGetAttributeArray_int64(info, name, out, &got);
	if (s != NULL) {
		api->ReleaseStatus(s);
		return status(api, ORT_INVALID_GRAPH, "%s %s: attribute %s: want %zu integers", c->base.op, c->base.name, name, n);
	}
	if (got != n) return status(api, ORT_INVALID_GRAPH, "%s %s: attribute %s has %zu values, want %zu", c->base.op, c->base.name, name, got, n);
	return NULL;
}

// layout returns the layout of a 4-D tensor of channels channels in a
// kernel of the given block: blocked (nChw{block}c) where block divides
// channels, else plain (NCHW).
static dnnl_format_tag_t layout(int64_t block, int64_t channels) {
	if (block == 0 || channels % block != 0) return dnnl_nchw;
	return block == 16 ? dnnl_nChw16c : dnnl_nChw8c;
}

// optional_int reads the int64 attribute name into out, leaving out as it
// is where the node has none.
static OrtStatus *optional_int(const OrtApi *api, const OrtKernelInfo *info, const char *name, int64_t *out) {
	int64_t v;
	OrtStatus *s = api->KernelInfoGetAttribute_int64(info, name, &v);
	if (s != NULL) {
		api->ReleaseStatus(s);
		return NULL;
	}
	*out = v;
	return NULL;
}

static void conv_release(conv *c) {
	if (c->prim) dn.dnnl_primitive_destroy(c->prim);
	c->prim = NULL;
	arg_release(&c->src), arg_release(&c->dst), arg_release(&c->wei);
	c->x[0] = 0;
}

static void conv_destroy(void *k) {
	conv *c = k;
	if (c == NULL) return;
	conv_release(c);
	if (c->cpu) c->base.api->ReleaseMemoryInfo(c->cpu);
	kernel_free(&c->base);
	free(c);
}

static OrtStatus *conv_create(const OrtCustomOp *op, const OrtApi *api, const OrtKernelInfo *info, void **out) {
	conv *c = calloc(1, sizeof *c);
	if (c == NULL) return api->CreateStatus(ORT_FAIL, "convolution gradient: out of memory");
	c->kind = ((const taet_op *)op)->kind;
	OrtStatus *s;
	if ((s = kernel_init(&c->base, op, api, info)) != NULL ||
	    (s = ints(c, info, "strides", c->strides, 2)) != NULL ||
	    (s = ints(c, info, "pads", c->pads, 4)) != NULL ||
	    (s = ints(c, info, "dilations", c->dilations, 2)) != NULL ||
	    (s = ints(c, info, "kernel_shape", c->kernel, 2)) != NULL ||
	    (c->kind == INPUT_GRAD && (s = ints(c, info, "input_shape", c->input_shape, 4)) != NULL) ||
	    (s = api->KernelInfoGetAttribute_int64(info, "group", &c->group)) != NULL ||
	    (s = optional_int(api, info, "block", &c->block)) != NULL ||
	    (s = api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &c->cpu)) != NULL) {
		conv_destroy(c);
		return s;
	}
	if (c->block != 0 && c->block != 8 && c->block != 16) {
		conv_destroy(c);
		return status(api, ORT_INVALID_GRAPH, "%s %s: block %lld: want 0 (plain layout), 8 or 16", c->base.op, c->base.name, (long long)c->block);
	}
	if (c->group < 1 || c->strides[0] < 1 || c->strides[1] < 1 || c->dilations[0] < 1 || c->dilations[1] < 1 ||
	    c->kernel[0] < 1 || c->kernel[1] < 1) {
		conv_destroy(c);
		return status(api, ORT_INVALID_GRAPH, "%s %s: group, strides, dilations and kernel_shape must be ≥ 1", c->base.op, c->base.name);
	}
	*out = c;
	return NULL;
}

// shape4 reads the 4-D shape of v into d.
static OrtStatus *shape4(conv *c, const OrtValue *v, const char *what, int64_t d[4]) {
	const OrtApi *api = c->base.api;
	OrtTensorTypeAndShapeInfo *info;
	RETURN_IF(api->GetTensorTypeAndShape(v, &info));
	size_t n = 0;
	OrtStatus *s = api->GetDimensionsCount(info, &n);
	if (s == NULL && n != 4) s = status(api, ORT_INVALID_ARGUMENT, "%s %s: %s has rank %zu, want 4", c->base.op, c->base.name, what, n);
	if (s == NULL) s = api->GetDimensions(info, d, 4);
	api->ReleaseTensorTypeAndShapeInfo(info);
	return s;
}


// arg_init makes a's memories: user over plain, and where the primitive's
// layout want differs, inner and the reorder (to inner when input).
static dnnl_status_t arg_init(arg *a, const dnnl_memory_desc_t *plain, const dnnl_memory_desc_t *want, int input) {
	a->input = input;
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

// conv_build makes the primitive (forward or backward) for x [N,C,H,W] and
// y or dy [N,M,OH,OW], given in plain layouts (NCHW, OIHW or GOIHW; with a
// block, ConvInputGrad's dy and dx blocked as ONNX Runtime's), on the
// layouts oneDNN prefers (format any), reordered from and to the plain
// ones where they differ. On the plain layouts themselves oneDNN 2.6 runs an
// im2col + GEMM weight gradient, 6× slower than its blocked one with the
// reorders (N=128, 64→64 channels, 32×32, 3×3: 1.5 s against 0.25 s, 2 threads).
static OrtStatus *conv_build(conv *c, const int64_t x[4], const int64_t dy[4]) {
	OrtStatus *err = NULL;
	dnnl_primitive_desc_t fwd = NULL, bwd = NULL;
	int64_t g = c->group, m = dy[1], ch = x[1];
	dnnl_dims_t xd = {x[0], x[1], x[2], x[3]}, yd = {dy[0], dy[1], dy[2], dy[3]};
	dnnl_dims_t wd = {m, ch / g, c->kernel[0], c->kernel[1]};
	dnnl_dims_t gwd = {g, m / g, ch / g, c->kernel[0], c->kernel[1]};
	dnnl_dims_t strides = {c->strides[0], c->strides[1]};
	dnnl_dims_t dil = {c->dilations[0] - 1, c->dilations[1] - 1}; // oneDNN counts the gaps
	dnnl_dims_t pl = {c->pads[0], c->pads[1]}, pr = {c->pads[2], c->pads[3]};
	dnnl_memory_desc_t src_md, dst_md, w_md, src_any, dst_any, w_any;
	dnnl_convolution_desc_t fd, bd;
	conv_release(c);
	// With a block, x (or dx) and y (or dy) whose channels divide into
	// blocks are in ONNX Runtime's blocked layout (nChw8c or nChw16c, as its
	// blocked Conv and ReorderInput make them).
	DNNL_TRY(&c->base, dn.dnnl_memory_desc_init_by_tag(&src_md, 4, xd, dnnl_f32, layout(c->block, ch)), "input layout");
	DNNL_TRY(&c->base, dn.dnnl_memory_desc_init_by_tag(&dst_md, 4, yd, dnnl_f32, layout(c->block, m)), "gradient layout");
	if (g == 1) {
		DNNL_TRY(&c->base, dn.dnnl_memory_desc_init_by_tag(&w_md, 4, wd, dnnl_f32, dnnl_oihw), "weight layout");
	} else {
		DNNL_TRY(&c->base, dn.dnnl_memory_desc_init_by_tag(&w_md, 5, gwd, dnnl_f32, dnnl_goihw), "weight layout");
	}
	DNNL_TRY(&c->base, dn.dnnl_memory_desc_init_by_tag(&src_any, 4, xd, dnnl_f32, dnnl_format_tag_any), "input layout");
	DNNL_TRY(&c->base, dn.dnnl_memory_desc_init_by_tag(&dst_any, 4, yd, dnnl_f32, dnnl_format_tag_any), "gradient layout");
	DNNL_TRY(&c->base, dn.dnnl_memory_desc_init_by_tag(&w_any, g == 1 ? 4 : 5, g == 1 ? wd : gwd, dnnl_f32, dnnl_format_tag_any), "weight layout");
	DNNL_TRY(&c->base, dn.dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
	                                                       &src_any, &w_any, NULL, &dst_any, strides, dil, pl, pr),
	         "forward descriptor");
	DNNL_TRY(&c->base, dn.dnnl_primitive_desc_create(&fwd, &fd, NULL, dn.engine, NULL), "forward primitive descriptor");
	if (c->kind == CONV) {
		DNNL_TRY(&c->base, dn.dnnl_primitive_create(&c->prim, fwd), "forward primitive");
		DNNL_TRY(&c->base, arg_init(&c->src, &src_md, dn.dnnl_primitive_desc_query_md(fwd, dnnl_query_src_md, 0), 1), "input memory");
		DNNL_TRY(&c->base, arg_init(&c->dst, &dst_md, dn.dnnl_primitive_desc_query_md(fwd, dnnl_query_dst_md, 0), 0), "output memory");
		DNNL_TRY(&c->base, arg_init(&c->wei, &w_md, dn.dnnl_primitive_desc_query_md(fwd, dnnl_query_weights_md, 0), 1), "weight memory");
		goto built;
	}
	if (c->kind == WEIGHT_GRAD) {
		DNNL_TRY(&c->base, dn.dnnl_dilated_convolution_backward_weights_desc_init(&bd, dnnl_convolution_direct, &src_any, &w_any,
		                                                                NULL, &dst_any, strides, dil, pl, pr),
		         "backward-weights descriptor");
	} else {
		DNNL_TRY(&c->base, dn.dnnl_dilated_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &src_any, &w_any,
		                                                             &dst_any, strides, dil, pl, pr),
		         "backward-data descriptor");
	}
	DNNL_TRY(&c->base, dn.dnnl_primitive_desc_create(&bwd, &bd, NULL, dn.engine, fwd), "backward primitive descriptor");
	DNNL_TRY(&c->base, dn.dnnl_primitive_create(&c->prim, bwd), "backward primitive");
	int wgrad = c->kind == WEIGHT_GRAD;
	DNNL_TRY(&c->base, arg_init(&c->src, &src_md, dn.dnnl_primitive_desc_query_md(bwd, wgrad ? dnnl_query_src_md : dnnl_query_diff_src_md, 0), wgrad),
	         "input memory");
	DNNL_TRY(&c->base, arg_init(&c->dst, &dst_md, dn.dnnl_primitive_desc_query_md(bwd, dnnl_query_diff_dst_md, 0), 1), "gradient memory");
	DNNL_TRY(&c->base, arg_init(&c->wei, &w_md, dn.dnnl_primitive_desc_query_md(bwd, wgrad ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0), !wgrad),
	         "weight memory");
built:
	memcpy(c->x, x, sizeof c->x);
	memcpy(c->dy, dy, sizeof c->dy);
done:
	if (bwd) dn.dnnl_primitive_desc_destroy(bwd);
	if (fwd) dn.dnnl_primitive_desc_destroy(fwd);
	if (err != NULL) conv_release(c);
	return err;
}

// reorder runs a's reorder, if any.
static dnnl_status_t reorder(conv *c, arg *a) {
	if (a->reorder == NULL) return dnnl_success;
	dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, a->input ? a->user : a->inner}, {DNNL_ARG_TO, a->input ? a->inner : a->user}};
	return dn.dnnl_primitive_execute(a->reorder, c->base.stream, 2, args);
}

// mem returns the memory the primitive reads or writes for a.
static dnnl_memory_t mem(arg *a) { return a->inner ? a->inner : a->user; }

// conv_compute: Conv's y [N, M, OH, OW] from x [N, C, H, W] and w [M, C/g,
// kH, kW], ConvWeightGrad's dw from x and dy [N, M, OH, OW], or
// ConvInputGrad's dx [input_shape] from dy and w.
static OrtStatus *conv_compute(void *k, OrtKernelContext *ctx) {
	conv *c = k;
	const OrtApi *api = c->base.api;
	const char *op = c->base.op;
	const OrtValue *in0, *in1;
	int64_t x[4], dy[4], w[4];
	RETURN_IF(api->KernelContext_GetInput(ctx, 0, &in0));
	RETURN_IF(api->KernelContext_GetInput(ctx, 1, &in1));
	if (c->kind == WEIGHT_GRAD) {
		RETURN_IF(shape4(c, in0, "x", x));
		RETURN_IF(shape4(c, in1, "dy", dy));
	} else {
		if (c->kind == CONV) {
			RETURN_IF(shape4(c, in0, "x", x));
			RETURN_IF(shape4(c, in1, "w", w));
			dy[0] = x[0], dy[1] = w[0];
			for (int a = 0; a < 2; a++) {
				int64_t span = c->dilations[a] * (c->kernel[a] - 1) + 1;
				dy[2 + a] = (x[2 + a] + c->pads[a] + c->pads[2 + a] - span) / c->strides[a] + 1;
				if (dy[2 + a] < 1) {
					return status(api, ORT_INVALID_ARGUMENT, "%s %s: x has %lld along axis %d, less than the padded kernel's %lld",
					              op, c->base.name, (long long)x[2 + a], 2 + a, (long long)span);
				}
			}
		} else {
			RETURN_IF(shape4(c, in0, "dy", dy));
			RETURN_IF(shape4(c, in1, "w", w));
			memcpy(x, c->input_shape, sizeof x);
		}
		if (w[0] != dy[1] || w[1] * c->group != x[1] || w[2] != c->kernel[0] || w[3] != c->kernel[1]) {
			return status(api, ORT_INVALID_ARGUMENT, "%s %s: w [%lld %lld %lld %lld] does not fit dy's %lld channels, input_shape's %lld, group %lld and kernel_shape",
			              op, c->base.name, (long long)w[0], (long long)w[1], (long long)w[2], (long long)w[3],
			              (long long)dy[1], (long long)x[1], (long long)c->group);
		}
	}
	int64_t g = c->group;
	if (x[0] != dy[0] || x[1] % g != 0 || dy[1] % g != 0) {
		return status(api, ORT_INVALID_ARGUMENT, "%s %s: x [%lld %lld %lld %lld] and dy [%lld %lld %lld %lld] do not fit group %lld",
		              op, c->base.name, (long long)x[0], (long long)x[1], (long long)x[2], (long long)x[3],
		              (long long)dy[0], (long long)dy[1], (long long)dy[2], (long long)dy[3], (long long)g);
	}
	for (int a = 0; a < 2; a++) {
		int64_t span = c->dilations[a] * (c->kernel[a] - 1) + 1;
		int64_t o = (x[2 + a] + c->pads[a] + c->pads[2 + a] - span) / c->strides[a] + 1;
		if (o != dy[2 + a]) {
			return status(api, ORT_INVALID_ARGUMENT, "%s %s: dy has %lld along axis %d, the convolution of x gives %lld",
			              op, c->base.name, (long long)dy[2 + a], 2 + a, (long long)o);
		}
	}
	OrtValue *outv;
	if (c->kind == WEIGHT_GRAD) {
		int64_t wd[4] = {dy[1], x[1] / g, c->kernel[0], c->kernel[1]};
		RETURN_IF(api->KernelContext_GetOutput(ctx, 0, wd, 4, &outv));
	} else if (c->kind == CONV) {
		RETURN_IF(api->KernelContext_GetOutput(ctx, 0, dy, 4, &outv));
	} else {
		RETURN_IF(api->KernelContext_GetOutput(ctx, 0, x, 4, &outv));
	}
	void *p0, *p1, *po;
	RETURN_IF(api->GetTensorMutableData((OrtValue *)in0, &p0));
	RETURN_IF(api->GetTensorMutableData((OrtValue *)in1, &p1));
	RETURN_IF(api->GetTensorMutableData(outv, &po));

	OrtStatus *err = NULL;
	OrtAllocator *alloc = NULL;
	arg *all[] = {&c->src, &c->dst, &c->wei};
	pthread_mutex_lock(&c->base.mu);
	// The OpenMP thread count is per calling thread, and ORT may call from
	// any: set it every time, before a primitive is built (oneDNN plans its
	// work, and so the order of its sums, for the threads it sees then).
	dn.omp_set_num_threads(c->base.threads);
	if (c->x[0] == 0 || memcmp(c->x, x, sizeof c->x) != 0 || memcmp(c->dy, dy, sizeof c->dy) != 0) {
		if ((err = conv_build(c, x, dy)) != NULL) goto done;
	}
	if (c->kind == CONV) {
		DNNL_TRY(&c->base, dn.dnnl_memory_set_data_handle(c->src.user, p0), "input handle");
		DNNL_TRY(&c->base, dn.dnnl_memory_set_data_handle(c->wei.user, p1), "weight handle");
		DNNL_TRY(&c->base, dn.dnnl_memory_set_data_handle(c->dst.user, po), "output handle");
	} else if (c->kind == WEIGHT_GRAD) {
		DNNL_TRY(&c->base, dn.dnnl_memory_set_data_handle(c->src.user, p0), "input handle");
		DNNL_TRY(&c->base, dn.dnnl_memory_set_data_handle(c->dst.user, p1), "gradient handle");
		DNNL_TRY(&c->base, dn.dnnl_memory_set_data_handle(c->wei.user, po), "weight gradient handle");
	} else {
		DNNL_TRY(&c->base, dn.dnnl_memory_set_data_handle(c->dst.user, p0), "gradient handle");
		DNNL_TRY(&c->base, dn.dnnl_memory_set_data_handle(c->wei.user, p1), "weight handle");
		DNNL_TRY(&c->base, dn.dnnl_memory_set_data_handle(c->src.user, po), "input gradient handle");
	}
	for (int i = 0; i < 3; i++) {
		arg *a = all[i];
		if (a->inner == NULL) continue;
		if (alloc == NULL && (err = api->KernelContext_GetAllocator(ctx, c->cpu, &alloc)) != NULL) goto done;
		if ((a->buf = alloc->Alloc(alloc, a->bytes)) == NULL) {
			err = status(api, ORT_FAIL, "%s %s: out of memory (%zu bytes)", op, c->base.name, a->bytes);
			goto done;
		}
		DNNL_TRY(&c->base, dn.dnnl_memory_set_data_handle(a->inner, a->buf), "reordered handle");
	}
	dnnl_exec_arg_t fargs[] = {
		{DNNL_ARG_SRC, mem(&c->src)}, {DNNL_ARG_WEIGHTS, mem(&c->wei)}, {DNNL_ARG_DST, mem(&c->dst)},
	};
	dnnl_exec_arg_t wargs[] = {
		{DNNL_ARG_SRC, mem(&c->src)}, {DNNL_ARG_DIFF_DST, mem(&c->dst)}, {DNNL_ARG_DIFF_WEIGHTS, mem(&c->wei)},
	};
	dnnl_exec_arg_t dargs[] = {
		{DNNL_ARG_DIFF_SRC, mem(&c->src)}, {DNNL_ARG_DIFF_DST, mem(&c->dst)}, {DNNL_ARG_WEIGHTS, mem(&c->wei)},
	};
	for (int i = 0; i < 3; i++) {
		if (all[i]->input) DNNL_TRY(&c->base, reorder(c, all[i]), "reorder an input");
	}
	DNNL_TRY(&c->base, dn.dnnl_primitive_execute(c->prim, c->base.stream, 3, c->kind == CONV ? fargs : c->kind == WEIGHT_GRAD ? wargs : dargs), "execute");
	for (int i = 0; i < 3; i++) {
		if (!all[i]->input) DNNL_TRY(&c->base, reorder(c, all[i]), "reorder the output");
	}
	DNNL_TRY(&c->base, dn.dnnl_stream_wait(c->base.stream), "wait");
done:
	for (int i = 0; i < 3; i++) {
		arg *a = all[i];
		if (a->buf != NULL) alloc->Free(alloc, a->buf);
		a->buf = NULL;
	}
	if (alloc != NULL) api->ReleaseAllocator(alloc);
	pthread_mutex_unlock(&c->base.mu);
	return err;
}

// ---- ReluGrad ----------------------------------------------------------------
//
//	ReluGrad(y, dy) → dx = dy·[y > 0], y = Relu(x), all of one shape
//
// oneDNN's eltwise backward ReLU on the output, one pass over the tensors
// seen as flat arrays.

// relu is one ReluGrad node's kernel and the primitive for the last size.
typedef struct {
	kernel base;
	int64_t n; // the element count prim was built for; 0: none yet
	dnnl_primitive_t prim;
	dnnl_memory_t y, dy, dx;
} relu;

static void relu_release(relu *r) {
	if (r->prim) dn.dnnl_primitive_destroy(r->prim);
	if (r->y) dn.dnnl_memory_destroy(r->y);
	if (r->dy) dn.dnnl_memory_destroy(r->dy);
	if (r->dx) dn.dnnl_memory_destroy(r->dx);
	r->prim = NULL, r->y = r->dy = r->dx = NULL, r->n = 0;
}

static void relu_destroy(void *k) {
	relu *r = k;
	if (r == NULL) return;
	relu_release(r);
	kernel_free(&r->base);
	free(r);
}

static OrtStatus *relu_create(const OrtCustomOp *op, const OrtApi *api, const OrtKernelInfo *info, void **out) {
	relu *r = calloc(1, sizeof *r);
	if (r == NULL) return api->CreateStatus(ORT_FAIL, "ReluGrad: out of memory");
	OrtStatus *s = kernel_init(&r->base, op, api, info);
	if (s != NULL) {
		relu_destroy(r);
		return s;
	}
	*out = r;
	return NULL;
}

// count returns v's element count and, in shape, its dimensions (up to 8).
static OrtStatus *count(const OrtApi *api, const OrtValue *v, int64_t *n, int64_t shape[8], size_t *rank) {
	OrtTensorTypeAndShapeInfo *info;
	RETURN_IF(api->GetTensorTypeAndShape(v, &info));
	size_t c = 0;
	OrtStatus *s = api->GetTensorShapeElementCount(info, &c);
	if (s == NULL) s = api->GetDimensionsCount(info, rank);
	if (s == NULL && *rank > 8) s = api->CreateStatus(ORT_INVALID_ARGUMENT, "a tensor of rank above 8");
	if (s == NULL) s = api->GetDimensions(info, shape, *rank);
	api->ReleaseTensorTypeAndShapeInfo(info);
	*n = (int64_t)c;
	return s;
}


static OrtStatus *relu_build(relu *r, int64_t n) {
	OrtStatus *err = NULL;
	dnnl_primitive_desc_t fwd = NULL, bwd = NULL;
	dnnl_dims_t d = {n};
	dnnl_memory_desc_t md;
	dnnl_eltwise_desc_t fd, bd;
	relu_release(r);
	DNNL_TRY(&r->base, dn.dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_f32, dnnl_a), "layout");
	DNNL_TRY(&r->base, dn.dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd, &md, 0, 0), "forward descriptor");
	DNNL_TRY(&r->base, dn.dnnl_primitive_desc_create(&fwd, &fd, NULL, dn.engine, NULL), "forward primitive descriptor");
	DNNL_TRY(&r->base, dn.dnnl_eltwise_backward_desc_init(&bd, dnnl_eltwise_relu_use_dst_for_bwd, &md, &md, 0, 0), "backward descriptor");
	DNNL_TRY(&r->base, dn.dnnl_primitive_desc_create(&bwd, &bd, NULL, dn.engine, fwd), "backward primitive descriptor");
	DNNL_TRY(&r->base, dn.dnnl_primitive_create(&r->prim, bwd), "backward primitive");
	DNNL_TRY(&r->base, dn.dnnl_memory_create(&r->y, &md, dn.engine, DNNL_MEMORY_NONE), "memory");
	DNNL_TRY(&r->base, dn.dnnl_memory_create(&r->dy, &md, dn.engine, DNNL_MEMORY_NONE), "memory");
	DNNL_TRY(&r->base, dn.dnnl_memory_create(&r->dx, &md, dn.engine, DNNL_MEMORY_NONE), "memory");
	r->n = n;
done:
	if (bwd) dn.dnnl_primitive_desc_destroy(bwd);
	if (fwd) dn.dnnl_primitive_desc_destroy(fwd);
	if (err != NULL) relu_release(r);
	return err;
}

static OrtStatus *relu_compute(void *k, OrtKernelContext *ctx) {
	relu *r = k;
	const OrtApi *api = r->base.api;
	const OrtValue *yv, *gv;
	int64_t ny, ng, shape[8];
	size_t rank;
	RETURN_IF(api->KernelContext_GetInput(ctx, 0, &yv));
	RETURN_IF(api->KernelContext_GetInput(ctx, 1, &gv));
	RETURN_IF(count(api, yv, &ny, shape, &rank));
	RETURN_IF(count(api, gv, &ng, shape, &rank));
	if (ny != ng) return status(api, ORT_INVALID_ARGUMENT, "ReluGrad %s: y has %lld elements, dy %lld", r->base.name, (long long)ny, (long long)ng);
	OrtValue *dxv;
	RETURN_IF(api->KernelContext_GetOutput(ctx, 0, shape, rank, &dxv));
	if (ng == 0) return NULL;
	void *yp, *gp, *dxp;
	RETURN_IF(api->GetTensorMutableData((OrtValue *)yv, &yp));
	RETURN_IF(api->GetTensorMutableData((OrtValue *)gv, &gp));
	RETURN_IF(api->GetTensorMutableData(dxv, &dxp));
	OrtStatus *err = NULL;
	pthread_mutex_lock(&r->base.mu);
	dn.omp_set_num_threads(r->base.threads); // before building, as in conv_compute
	if (r->n != ng && (err = relu_build(r, ng)) != NULL) goto done;
	DNNL_TRY(&r->base, dn.dnnl_memory_set_data_handle(r->y, yp), "handle");
	DNNL_TRY(&r->base, dn.dnnl_memory_set_data_handle(r->dy, gp), "handle");
	DNNL_TRY(&r->base, dn.dnnl_memory_set_data_handle(r->dx, dxp), "handle");
	dnnl_exec_arg_t args[] = {{DNNL_ARG_DST, r->y}, {DNNL_ARG_DIFF_DST, r->dy}, {DNNL_ARG_DIFF_SRC, r->dx}};
	DNNL_TRY(&r->base, dn.dnnl_primitive_execute(r->prim, r->base.stream, 3, args), "execute");
	DNNL_TRY(&r->base, dn.dnnl_stream_wait(r->base.stream), "wait");
done:
	pthread_mutex_unlock(&r->base.mu);
	return err;
}

// ---- Batch and layer normalization ------------------------------------------
//
//	BatchNormTraining(x, scale, bias, running_mean, running_var; epsilon, momentum)
//	  → y, running_mean', running_var', mean, var
//	BatchNormTrainingGrad(x, dy, scale, bias, mean, var; epsilon) → dx, dscale, dbias
//	LayerNormTraining(x, scale, bias; axis, epsilon) → y, mean, var
//	LayerNormTrainingGrad(x, dy, scale, bias, mean, var; axis, epsilon) → dx, dscale, dbias
//
// Batch normalization normalises x [N, C, …] per channel with the batch's
// mean and biased variance var (÷ N·S, S the product of the axes after C):
// y = scale·(x − mean)/√(var + ε) + bias, and updates the running
// statistics as ONNX BatchNormalization-15 does, running' = momentum·running
// + (1 − momentum)·batch. Layer normalization (ONNX LayerNormalization-17)
// normalises each of the T = x[0]·…·x[axis−1] rows of x seen as [T, C]
// (C the product of the axes from axis on) the same way, scale and bias of
// the trailing axes' shape; mean and var are then [T]. The gradients take
// the statistics the forward op returned: dx = (scale/σ)·(dy − mean(dy) −
// x̂·mean(dy·x̂)), dscale = Σ dy·x̂, dbias = Σ dy, means over what was
// normalised, sums over the rest. oneDNN's batch and layer normalization
// (use_scale | use_shift). For batch normalization x is seen as [N, C, S, 1]:
// oneDNN 2.6's plain-layout kernel is 4-D only, and [N, C, S] would run its
// reference one, 13× slower at [128, 64, 1024]. Both backward primitives
// also want the shift, which they do not read.

// norm is one node's kernel and the primitive for the last shape.
typedef struct {
	kernel base;
	kind kind;
	int layer; // layer normalization (else batch)
	int64_t axis;
	float epsilon, momentum;
	int64_t block;   // batch normalization: x, y, dy and dx in nChw{block}c where block divides C; 0: plain
	int64_t n, c, s; // the shape prim was built for ([N, C, S] or [T, C, 1]); c == 0: none yet
	dnnl_primitive_t prim;
	dnnl_memory_t x, dst, dx, scale, shift, mean, var, dscale, dshift; // dst: y or dy
} norm;

static void norm_release(norm *b) {
	if (b->prim) dn.dnnl_primitive_destroy(b->prim);
	dnnl_memory_t *all[] = {&b->x, &b->dst, &b->dx, &b->scale, &b->shift, &b->mean, &b->var, &b->dscale, &b->dshift};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		if (*all[i]) dn.dnnl_memory_destroy(*all[i]);
		*all[i] = NULL;
	}
	b->prim = NULL, b->c = 0;
}

static void norm_destroy(void *k) {
	norm *b = k;
	if (b == NULL) return;
	norm_release(b);
	kernel_free(&b->base);
	free(b);
}

static OrtStatus *norm_create(const OrtCustomOp *op, const OrtApi *api, const OrtKernelInfo *info, void **out) {
	norm *b = calloc(1, sizeof *b);
	if (b == NULL) return api->CreateStatus(ORT_FAIL, "normalization: out of memory");
	b->kind = ((const taet_op *)op)->kind;
	b->layer = b->kind == LN || b->kind == LN_GRAD;
	OrtStatus *s = kernel_init(&b->base, op, api, info);
	if (s == NULL) s = api->KernelInfoGetAttribute_float(info, "epsilon", &b->epsilon);
	if (s == NULL && b->kind == BN) s = api->KernelInfoGetAttribute_float(info, "momentum", &b->momentum);
	if (s == NULL && b->layer) s = api->KernelInfoGetAttribute_int64(info, "axis", &b->axis);
	if (s == NULL && !b->layer) s = optional_int(api, info, "block", &b->block);
	if (s != NULL) {
		norm_destroy(b);
		return s;
	}
	if (!(b->epsilon > 0) || (b->layer && b->axis < 1) || (b->block != 0 && b->block != 8 && b->block != 16)) {
		norm_destroy(b);
		return status(api, ORT_INVALID_GRAPH, "%s %s: epsilon %g, axis %lld, block %lld: want epsilon > 0, axis ≥ 1 and block 0, 8 or 16",
		              b->base.op, b->base.name, b->epsilon, (long long)b->axis, (long long)b->block);
	}
	*out = b;
	return NULL;
}

static OrtStatus *norm_build(norm *b, int64_t n, int64_t c, int64_t s) {
	OrtStatus *err = NULL;
	dnnl_primitive_desc_t fwd = NULL, bwd = NULL;
	dnnl_dims_t d = {n, c, s, 1}, cd = {c}, td = {n};
	dnnl_memory_desc_t md, cmd, smd; // data, scale and shift, statistics
	unsigned flags = dnnl_use_scale | dnnl_use_shift;
	norm_release(b);
	DNNL_TRY(&b->base, dn.dnnl_memory_desc_init_by_tag(&cmd, 1, cd, dnnl_f32, dnnl_a), "scale layout");
	if (b->layer) {
		dnnl_layer_normalization_desc_t fd, bd;
		DNNL_TRY(&b->base, dn.dnnl_memory_desc_init_by_tag(&md, 2, d, dnnl_f32, dnnl_ab), "layout");
		DNNL_TRY(&b->base, dn.dnnl_memory_desc_init_by_tag(&smd, 1, td, dnnl_f32, dnnl_a), "statistics layout");
		DNNL_TRY(&b->base, dn.dnnl_layer_normalization_forward_desc_init(&fd, dnnl_forward_training, &md, &smd, b->epsilon, flags), "forward descriptor");
		DNNL_TRY(&b->base, dn.dnnl_primitive_desc_create(&fwd, &fd, NULL, dn.engine, NULL), "forward primitive descriptor");
		if (b->kind == LN_GRAD) {
			DNNL_TRY(&b->base, dn.dnnl_layer_normalization_backward_desc_init(&bd, dnnl_backward, &md, &md, &smd, b->epsilon, flags), "backward descriptor");
			DNNL_TRY(&b->base, dn.dnnl_primitive_desc_create(&bwd, &bd, NULL, dn.engine, fwd), "backward primitive descriptor");
		}
	} else {
		dnnl_batch_normalization_desc_t fd, bd;
		DNNL_TRY(&b->base, dn.dnnl_memory_desc_init_by_tag(&md, 4, d, dnnl_f32, layout(b->block, c)), "layout");
		smd = cmd;
		DNNL_TRY(&b->base, dn.dnnl_batch_normalization_forward_desc_init(&fd, dnnl_forward_training, &md, b->epsilon, flags), "forward descriptor");
		DNNL_TRY(&b->base, dn.dnnl_primitive_desc_create(&fwd, &fd, NULL, dn.engine, NULL), "forward primitive descriptor");
		if (b->kind == BN_GRAD) {
			DNNL_TRY(&b->base, dn.dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &md, &md, b->epsilon, flags), "backward descriptor");
			DNNL_TRY(&b->base, dn.dnnl_primitive_desc_create(&bwd, &bd, NULL, dn.engine, fwd), "backward primitive descriptor");
		}
	}
	DNNL_TRY(&b->base, dn.dnnl_primitive_create(&b->prim, bwd ? bwd : fwd), "primitive");
	if (bwd) {
		DNNL_TRY(&b->base, dn.dnnl_memory_create(&b->dx, &md, dn.engine, DNNL_MEMORY_NONE), "memory");
		DNNL_TRY(&b->base, dn.dnnl_memory_create(&b->dscale, &cmd, dn.engine, DNNL_MEMORY_NONE), "memory");
		DNNL_TRY(&b->base, dn.dnnl_memory_create(&b->dshift, &cmd, dn.engine, DNNL_MEMORY_NONE), "memory");
	}
	DNNL_TRY(&b->base, dn.dnnl_memory_create(&b->x, &md, dn.engine, DNNL_MEMORY_NONE), "memory");
	DNNL_TRY(&b->base, dn.dnnl_memory_create(&b->dst, &md, dn.engine, DNNL_MEMORY_NONE), "memory");
	DNNL_TRY(&b->base, dn.dnnl_memory_create(&b->scale, &cmd, dn.engine, DNNL_MEMORY_NONE), "memory");
	DNNL_TRY(&b->base, dn.dnnl_memory_create(&b->shift, &cmd, dn.engine, DNNL_MEMORY_NONE), "memory");
	DNNL_TRY(&b->base, dn.dnnl_memory_create(&b->mean, &smd, dn.engine, DNNL_MEMORY_NONE), "memory");
	DNNL_TRY(&b->base, dn.dnnl_memory_create(&b->var, &smd, dn.engine, DNNL_MEMORY_NONE), "memory");
	b->n = n, b->c = c, b->s = s;
done:
	if (bwd) dn.dnnl_primitive_desc_destroy(bwd);
	if (fwd) dn.dnnl_primitive_desc_destroy(fwd);
	if (err != NULL) norm_release(b);
	return err;
}

// norm_compute: the outputs of one of the four ops (see above) from its
// inputs.
static OrtStatus *norm_compute(void *k, OrtKernelContext *ctx) {
	norm *b = k;
	const OrtApi *api = b->base.api;
	size_t ins = kind_inputs[b->kind], outs = kind_outputs[b->kind];
	int grad = b->kind == BN_GRAD || b->kind == LN_GRAD;
	const OrtValue *in[6];
	void *ip[6], *op[5];
	int64_t shape[8], sshape[8], tmp[8], n, total;
	size_t rank, srank, trank;
	for (size_t i = 0; i < ins; i++) {
		RETURN_IF(api->KernelContext_GetInput(ctx, i, &in[i]));
		RETURN_IF(api->GetTensorMutableData((OrtValue *)in[i], &ip[i]));
	}
	RETURN_IF(count(api, in[0], &total, shape, &rank));
	RETURN_IF(count(api, in[grad ? 2 : 1], &n, sshape, &srank)); // scale: [C], or the normalised axes' shape
	int64_t split = b->layer ? b->axis : 2; // x = [rows…, normalised or channel…]
	if ((int64_t)rank < split + (b->layer ? 1 : 0) || rank < 2 || total == 0) {
		return status(api, ORT_INVALID_ARGUMENT, "%s %s: x has rank %zu: want %s", b->base.op, b->base.name, rank,
		              b->layer ? "more axes than the attribute axis" : "[N, C, …]");
	}
	int64_t rows = 1;
	for (int64_t a = 0; a < (b->layer ? split : 1); a++) rows *= shape[a];
	int64_t c = b->layer ? total / rows : shape[1], s = b->layer ? 1 : total / (shape[0] * c);
	int64_t stats = b->layer ? rows : c;
	for (size_t i = 1; i < ins; i++) {
		// dy has x's shape; scale and bias C values; the statistics stats values
		int64_t want = grad && i == 1 ? total : (grad ? i >= 4 : (!b->layer && i >= 3)) ? stats : c;
		RETURN_IF(count(api, in[i], &n, tmp, &trank));
		if (n != want) {
			return status(api, ORT_INVALID_ARGUMENT, "%s %s: input %zu has %lld values, want %lld", b->base.op, b->base.name, i,
			              (long long)n, (long long)want);
		}
	}
	for (size_t i = 0; i < outs; i++) {
		OrtValue *v;
		int64_t flat[1] = {stats};
		if (i == 0) { // y or dx
			RETURN_IF(api->KernelContext_GetOutput(ctx, i, shape, rank, &v));
		} else if (grad || !b->layer) { // dscale, dbias; the running and batch statistics, [C]
			RETURN_IF(api->KernelContext_GetOutput(ctx, i, sshape, srank, &v));
		} else { // a layer's mean and var
			RETURN_IF(api->KernelContext_GetOutput(ctx, i, flat, 1, &v));
		}
		RETURN_IF(api->GetTensorMutableData(v, &op[i]));
	}
	OrtStatus *err = NULL;
	pthread_mutex_lock(&b->base.mu);
	dn.omp_set_num_threads(b->base.threads); // before building, as in conv_compute
	int64_t n0 = b->layer ? rows : shape[0];
	if ((b->c != c || b->n != n0 || b->s != s) && (err = norm_build(b, n0, c, s)) != NULL) goto done;
	if (!grad) {
		void *mean = op[b->layer ? 1 : 3], *var = op[b->layer ? 2 : 4];
		void *h[][2] = {{b->x, ip[0]}, {b->scale, ip[1]}, {b->shift, ip[2]}, {b->dst, op[0]}, {b->mean, mean}, {b->var, var}};
		for (int i = 0; i < 6; i++) DNNL_TRY(&b->base, dn.dnnl_memory_set_data_handle(h[i][0], h[i][1]), "handle");
		dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, b->x}, {DNNL_ARG_SCALE, b->scale}, {DNNL_ARG_SHIFT, b->shift},
		                          {DNNL_ARG_DST, b->dst}, {DNNL_ARG_MEAN, b->mean}, {DNNL_ARG_VARIANCE, b->var}};
		DNNL_TRY(&b->base, dn.dnnl_primitive_execute(b->prim, b->base.stream, 6, args), "execute");
	} else {
		void *h[][2] = {{b->x, ip[0]}, {b->dst, ip[1]}, {b->scale, ip[2]}, {b->shift, ip[3]}, {b->mean, ip[4]}, {b->var, ip[5]},
		                {b->dx, op[0]}, {b->dscale, op[1]}, {b->dshift, op[2]}};
		for (int i = 0; i < 9; i++) DNNL_TRY(&b->base, dn.dnnl_memory_set_data_handle(h[i][0], h[i][1]), "handle");
		dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, b->x}, {DNNL_ARG_DIFF_DST, b->dst}, {DNNL_ARG_SCALE, b->scale},
		                          {DNNL_ARG_SHIFT, b->shift}, {DNNL_ARG_MEAN, b->mean}, {DNNL_ARG_VARIANCE, b->var},
		                          {DNNL_ARG_DIFF_SRC, b->dx}, {DNNL_ARG_DIFF_SCALE, b->dscale}, {DNNL_ARG_DIFF_SHIFT, b->dshift}};
		DNNL_TRY(&b->base, dn.dnnl_primitive_execute(b->prim, b->base.stream, 9, args), "execute");
	}
	DNNL_TRY(&b->base, dn.dnnl_stream_wait(b->base.stream), "wait");
	if (b->kind == BN) { // the running statistics: C values each
		const float *rm = ip[3], *rv = ip[4], *mean = op[3], *var = op[4];
		float *rm2 = op[1], *rv2 = op[2], m = b->momentum;
		for (int64_t i = 0; i < c; i++) {
			rm2[i] = m * rm[i] + (1 - m) * mean[i];
			rv2[i] = m * rv[i] + (1 - m) * var[i];
		}
	}
done:
	pthread_mutex_unlock(&b->base.mu);
	return err;
}

// new_op returns the custom op of kind k on threads OpenMP threads,
// allocated for the life of the process (sessions keep pointing at it).
static OrtCustomOp *new_op(kind k, int threads) {
	taet_op *op = calloc(1, sizeof *op);
	if (op == NULL) return NULL;
	op->kind = k;
	op->threads = threads;
	OrtCustomOp *o = &op->op;
	o->version = ORT_API_VERSION;
	o->GetName = op_name;
	o->GetExecutionProviderType = op_provider;
	o->GetInputType = op_type;
	o->GetInputTypeCount = op_inputs;
	o->GetOutputType = op_type;
	o->GetOutputTypeCount = op_outputs;
	o->KernelDestroy = k == RELU_GRAD ? relu_destroy : k >= BN ? norm_destroy : conv_destroy;
	o->GetInputCharacteristic = op_required;
	o->GetOutputCharacteristic = op_required;
	o->GetInputMemoryType = op_memtype;
	o->GetVariadicInputMinArity = op_one;
	o->GetVariadicInputHomogeneity = op_zero;
	o->GetVariadicOutputMinArity = op_one;
	o->GetVariadicOutputHomogeneity = op_zero;
	o->CreateKernelV2 = k == RELU_GRAD ? relu_create : k >= BN ? norm_create : conv_create;
	o->KernelComputeV2 = k == RELU_GRAD ? relu_compute : k >= BN ? norm_compute : conv_compute;
	o->GetStartVersion = op_one;
	return o;
}

char *taet_dnnl_domain(const OrtApi *api, const char *domain, int threads, OrtCustomOpDomain **out) {
	OrtStatus *s = api->CreateCustomOpDomain(domain, out);
	for (kind k = CONV; s == NULL && k <= LN_GRAD; k++) {
		OrtCustomOp *op = new_op(k, threads);
		if (op == NULL) return errorf("out of memory");
		s = api->CustomOpDomain_Add(*out, op);
	}
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
