package onednn

/*
#cgo CFLAGS: -I${SRCDIR}/include -I${SRCDIR}/../include
#cgo LDFLAGS: -ldl -lpthread
#include <stdlib.h>
#include "glue.h"
*/
import "C"

import (
	"cmp"
	"fmt"
	"os"
	"sync"
	"unsafe"
)

// Domain is the operator domain of the kernels.
const Domain = "ai.taet.onednn"

// The kernels' op types (see the package documentation).
const (
	OpConv           = "Conv"
	OpConvWeightGrad = "ConvWeightGrad"
	OpConvInputGrad  = "ConvInputGrad"
	OpReluGrad       = "ReluGrad"

	OpBatchNormTraining     = "BatchNormTraining"
	OpBatchNormTrainingGrad = "BatchNormTrainingGrad"
	OpLayerNormTraining     = "LayerNormTraining"
	OpLayerNormTrainingGrad = "LayerNormTrainingGrad"
)

// LibraryEnv names the environment variable that overrides the library
// Load opens (default "libdnnl.so.2", found by the dynamic loader).
const LibraryEnv = "TAET_ONEDNN_LIB"

var lib struct {
	once    sync.Once
	err     error
	version string
}

// Load opens the oneDNN library ($TAET_ONEDNN_LIB, else libdnnl.so.2) the
// first time it is called and returns its version ("2.6.3"), or why it
// cannot be used.
func Load() (version string, err error) {
	lib.once.Do(func() {
		path := C.CString(cmp.Or(os.Getenv(LibraryEnv), "libdnnl.so.2"))
		defer C.free(unsafe.Pointer(path))
		if msg := C.taet_dnnl_load(path); msg != nil {
			defer C.free(unsafe.Pointer(msg))
			lib.err = fmt.Errorf("oneDNN not loadable (%s)", C.GoString(msg))
			return
		}
		var v [3]C.int
		C.taet_dnnl_version(&v[0])
		lib.version = fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
	})
	return lib.version, lib.err
}

var domains struct {
	sync.Mutex
	byThreads map[int]*C.OrtCustomOpDomain
}

// Register adds the kernels' domain to ONNX Runtime session options, with
// kernels that run on threads OpenMP threads. api is the session library's
// const OrtApi*, options its OrtSessionOptions*. One domain is made per
// thread count and kept for the life of the process (the sessions made
// with it point into it).
func Register(api, options unsafe.Pointer, threads int) error {
	if _, err := Load(); err != nil {
		return err
	}
	if threads < 1 {
		return fmt.Errorf("onednn: %d threads: want at least 1", threads)
	}
	a := (*C.OrtApi)(api)
	domains.Lock()
	defer domains.Unlock()
	dom := domains.byThreads[threads]
	if dom == nil {
		name := C.CString(Domain)
		defer C.free(unsafe.Pointer(name))
		if msg := C.taet_dnnl_domain(a, name, C.int(threads), &dom); msg != nil {
			defer C.free(unsafe.Pointer(msg))
			return fmt.Errorf("onednn: custom-op domain: %s", C.GoString(msg))
		}
		if domains.byThreads == nil {
			domains.byThreads = map[int]*C.OrtCustomOpDomain{}
		}
		domains.byThreads[threads] = dom
	}
	if msg := C.taet_dnnl_add(a, (*C.OrtSessionOptions)(options), dom); msg != nil {
		defer C.free(unsafe.Pointer(msg))
		return fmt.Errorf("onednn: add the custom-op domain: %s", C.GoString(msg))
	}
	return nil
}
