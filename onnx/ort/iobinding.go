package ort

/*
#cgo CFLAGS: -I${SRCDIR}/include
#include <dlfcn.h>
#include "onnxruntime_c_api.h"

// The OrtApi of the library Init loaded, for the calls onnxruntime_go does
// not wrap: outputs left in device memory and bound back as inputs, and the
// CPU arena the sessions share (arena.go).
static const OrtApi *api;
static const OrtApi *get_api(void) { return api; }

// api_init finds the API table in the already loaded library at path.
static int api_init(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL) return 1;
	const OrtApiBase *(*get)(void) = (const OrtApiBase *(*)(void))dlsym(h, "OrtGetApiBase");
	if (get == NULL) return 2;
	api = get()->GetApi(ORT_API_VERSION);
	return api == NULL ? 3 : 0;
}

// status_message returns the message of a failed call and releases the status.
static char *status_message(OrtStatus *s) {
	if (s == NULL) return NULL;
	char *m = strdup(api->GetErrorMessage(s));
	api->ReleaseStatus(s);
	return m;
}

static char *memory_info(int cuda, int id, OrtMemoryInfo **out) {
	if (cuda) return status_message(api->CreateMemoryInfo("Cuda", OrtArenaAllocator, id, OrtMemTypeDefault, out));
	return status_message(api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, out));
}

static void release_memory_info(OrtMemoryInfo *m) { api->ReleaseMemoryInfo(m); }

// share_cpu_arena registers one CPU arena with the process's environment
// (CreateEnv returns the one onnxruntime_go made: it is a singleton, and the
// reference taken here is never released), growing by what each request
// needs instead of to the next power of two. Sessions configured with
// session.use_env_allocators allocate from it.
static char *share_cpu_arena(void) {
	OrtEnv *env;
	char *err = status_message(api->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "taet", &env));
	if (err != NULL) return err;
	OrtMemoryInfo *mem;
	if ((err = status_message(api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &mem))) != NULL) return err;
	const char *keys[] = {"arena_extend_strategy"};
	const size_t values[] = {1}; // kSameAsRequested
	OrtArenaCfg *cfg;
	if ((err = status_message(api->CreateArenaCfgV2(keys, values, 1, &cfg))) == NULL) {
		err = status_message(api->CreateAndRegisterAllocator(env, mem, cfg));
		api->ReleaseArenaCfg(cfg);
	}
	api->ReleaseMemoryInfo(mem);
	return err;
}
static void release_value(OrtValue *v) { api->ReleaseValue(v); }

static char *bind_input(OrtIoBinding *b, const char *name, OrtValue *v) {
	return status_message(api->BindInput(b, name, v));
}

static char *bind_output_to_device(OrtIoBinding *b, const char *name, OrtMemoryInfo *m) {
	return status_message(api->BindOutputToDevice(b, name, m));
}

// bound_outputs returns the values of the bound outputs, in binding order;
// free *out with free_bound after taking the values.
static char *bound_outputs(OrtIoBinding *b, OrtValue ***out, size_t *n) {
	OrtAllocator *a;
	char *err = status_message(api->GetAllocatorWithDefaultOptions(&a));
	if (err != NULL) return err;
	return status_message(api->GetBoundOutputValues(b, a, out, n));
}

static void free_bound(OrtValue **vs) {
	OrtAllocator *a;
	if (api->GetAllocatorWithDefaultOptions(&a) == NULL) free(status_message(api->AllocatorFree(a, vs)));
}
*/
import "C"

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"unsafe"

	ortgo "github.com/yalue/onnxruntime_go"
)

var capi struct {
	once sync.Once
	err  error
}

// initAPI makes the C API table of the loaded library available to this file.
func initAPI() error {
	if err := checkInit(); err != nil {
		return err
	}
	capi.once.Do(func() {
		path, _, _ := Loaded()
		cpath := C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
		if rc := C.api_init(cpath); rc != 0 {
			capi.err = fmt.Errorf("ort: the C API of %s is not reachable (step %d)", path, rc)
		}
	})
	return capi.err
}

// shareCPUArena registers the CPU arena CPU sessions share (see arena.go).
func shareCPUArena() error {
	if err := initAPI(); err != nil {
		return err
	}
	return cError("share the CPU arena", C.share_cpu_arena())
}

// cError turns a message from the C side into an error, freeing it.
func cError(what string, msg *C.char) error {
	if msg == nil {
		return nil
	}
	defer C.free(unsafe.Pointer(msg))
	return fmt.Errorf("ort: %s: %s", what, C.GoString(msg))
}

// DeviceTensor is a tensor in the memory of the device a Binding runs on,
// made by a run and read by later runs without a copy. Close releases it.
type DeviceTensor struct{ v *C.OrtValue }

// Close releases the tensor's memory.
func (t *DeviceTensor) Close() {
	if t != nil && t.v != nil {
		C.release_value(t.v)
		t.v = nil
	}
}

// Binding runs a Session with inputs and outputs bound by name, each either
// a host Tensor (copied to or from the device by the run) or a DeviceTensor
// (left where it is): ONNX Runtime's I/O binding. A training loop binds its
// state outputs to the device and binds them back as the next run's inputs,
// so only the batch goes in and the loss comes out. It works on the CPU
// provider too, where the device memory is host memory.
type Binding struct {
	s       *Session
	b       *ortgo.IoBinding
	mem     *C.OrtMemoryInfo
	outputs []string           // bound outputs, in binding order
	device  map[string]*C.char // outputs bound to the device → their C names
}

// NewBinding returns an empty binding for s whose device outputs live on dev
// (the device s runs on).
func (s *Session) NewBinding(dev Device) (*Binding, error) {
	if err := initAPI(); err != nil {
		return nil, err
	}
	b, err := s.s.CreateIoBinding()
	if err != nil {
		return nil, fmt.Errorf("ort: create binding: %w", err)
	}
	bd := &Binding{s: s, b: b, device: map[string]*C.char{}}
	cuda := C.int(0)
	if dev.CUDA {
		cuda = 1
	}
	if err := cError("memory info "+dev.String(), C.memory_info(cuda, C.int(dev.ID), &bd.mem)); err != nil {
		b.Destroy()
		return nil, err
	}
	return bd, nil
}

// ioBinding returns the C binding inside onnxruntime_go's IoBinding, whose
// only field it is (v1.27.0, pinned in go.mod).
func (b *Binding) ioBinding() *C.OrtIoBinding {
	return *(**C.OrtIoBinding)(unsafe.Pointer(b.b))
}

// BindInput binds a host tensor as the input called name.
func (b *Binding) BindInput(name string, v Value) error {
	if err := b.b.BindInput(name, v.ortValue()); err != nil {
		return fmt.Errorf("ort: bind input %s: %w", name, err)
	}
	return nil
}

// BindDeviceInput binds a device tensor (an earlier run's output) as the
// input called name. t must stay open until the binding no longer uses it.
func (b *Binding) BindDeviceInput(name string, t *DeviceTensor) error {
	if t == nil || t.v == nil {
		return fmt.Errorf("ort: bind input %s: closed device tensor", name)
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return cError("bind input "+name, C.bind_input(b.ioBinding(), cname, t.v))
}

// BindOutput binds a preallocated host tensor as the output called name:
// the run writes (or copies) the output into it.
func (b *Binding) BindOutput(name string, v Value) error {
	if err := b.b.BindOutput(name, v.ortValue()); err != nil {
		return fmt.Errorf("ort: bind output %s: %w", name, err)
	}
	b.bound(name, nil)
	return nil
}

// BindOutputToDevice leaves the output called name in device memory that
// each run allocates anew (so it never aliases the inputs it is computed
// from); Run returns it as a DeviceTensor.
func (b *Binding) BindOutputToDevice(name string) error {
	cname := C.CString(name)
	if err := cError("bind output "+name, C.bind_output_to_device(b.ioBinding(), cname, b.mem)); err != nil {
		C.free(unsafe.Pointer(cname))
		return err
	}
	b.bound(name, cname)
	return nil
}

// bound records the output called name, bound to the device when cname is not nil.
func (b *Binding) bound(name string, cname *C.char) {
	if !slices.Contains(b.outputs, name) {
		b.outputs = append(b.outputs, name) // the runtime keeps a rebound name's place
	}
	if old := b.device[name]; old != nil {
		C.free(unsafe.Pointer(old))
	}
	delete(b.device, name)
	if cname != nil {
		b.device[name] = cname
	}
}

// Run executes the session on the bound values and returns the outputs
// bound to the device, by name; the caller closes them.
func (b *Binding) Run() (map[string]*DeviceTensor, error) {
	// A device output keeps the last run's memory unless bound anew, and that
	// memory is now the next run's input: rebind so the run allocates fresh.
	for name, cname := range b.device {
		if err := cError("bind output "+name, C.bind_output_to_device(b.ioBinding(), cname, b.mem)); err != nil {
			return nil, err
		}
	}
	if err := b.s.s.RunWithBinding(b.b); err != nil {
		return nil, fmt.Errorf("ort: run: %w", err)
	}
	var vs **C.OrtValue
	var n C.size_t
	if err := cError("bound outputs", C.bound_outputs(b.ioBinding(), &vs, &n)); err != nil {
		return nil, err
	}
	values := unsafe.Slice(vs, int(n))
	defer C.free_bound(vs)
	out := map[string]*DeviceTensor{}
	var err error
	if int(n) != len(b.outputs) {
		err = fmt.Errorf("ort: run returned %d bound outputs, %d were bound", n, len(b.outputs))
	}
	for i, v := range values {
		if err == nil && b.device[b.outputs[i]] != nil {
			out[b.outputs[i]] = &DeviceTensor{v}
			continue
		}
		C.release_value(v) // a host output (already in its tensor), or an error
	}
	if err != nil {
		for _, t := range out {
			t.Close()
		}
		return nil, err
	}
	return out, nil
}

// Close releases the binding (not the tensors bound to it).
func (b *Binding) Close() error {
	if b.mem != nil {
		C.release_memory_info(b.mem)
		b.mem = nil
	}
	for name, cname := range b.device {
		C.free(unsafe.Pointer(cname))
		delete(b.device, name)
	}
	return errors.Join(b.b.Destroy())
}

// rawAPI returns the C API table initAPI found, for package onednn.
func rawAPI() unsafe.Pointer { return unsafe.Pointer(C.get_api()) }
