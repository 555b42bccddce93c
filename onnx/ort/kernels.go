package ort

import (
	"unsafe"

	"github.com/taet-ml/taet/onnx/ort/onednn"
	ortgo "github.com/yalue/onnxruntime_go"
)

// registerOneDNN adds the onednn kernels, on threads OpenMP threads, to so.
func registerOneDNN(so *ortgo.SessionOptions, threads int) error {
	if err := initAPI(); err != nil {
		return err
	}
	// The C session options are onnxruntime_go's SessionOptions' only field
	// (v1.27.0, pinned in go.mod).
	raw := *(*unsafe.Pointer)(unsafe.Pointer(so))
	return onednn.Register(rawAPI(), raw, threads)
}
