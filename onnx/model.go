package onnx

import (
	"fmt"
	"os"
	"strings"

	"github.com/taet-ml/taet/internal/atomicfile"
	"github.com/taet-ml/taet/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

const (
	// Opset is the default ai.onnx opset of every model taet writes.
	Opset = 17
	// IRVersion is the IR version for Opset (ONNX 1.12).
	IRVersion = 8
	// ProducerName is written into every model.
	ProducerName = "taet"
)

// MinOpset returns the lowest ai.onnx opset that defines op in the form taet
// emits, never below Opset.
func MinOpset(op string) int64 {
	if op == "Col2Im" {
		return 18
	}
	return Opset
}

// IRVersionFor returns the IR version that goes with an ai.onnx opset.
func IRVersionFor(opset int64) int64 {
	if opset >= 18 {
		return 8 // ONNX 1.13 kept IR 8
	}
	return IRVersion
}

// DType is an ONNX tensor element type.
type DType = onnxpb.TensorProto_DataType

// The element types taet uses.
const (
	Float = onnxpb.TensorProto_FLOAT
	Int64 = onnxpb.TensorProto_INT64
	Bool  = onnxpb.TensorProto_BOOL
)

// DTypeName returns an element type as NumPy spells it (float32, float64,
// float16), "unknown" for UNDEFINED and the lower-cased ONNX name for the
// rest (int64, bool, bfloat16, string, …).
func DTypeName(d DType) string {
	switch d {
	case onnxpb.TensorProto_FLOAT:
		return "float32"
	case onnxpb.TensorProto_DOUBLE:
		return "float64"
	case onnxpb.TensorProto_FLOAT16:
		return "float16"
	case onnxpb.TensorProto_UNDEFINED:
		return "unknown"
	}
	return strings.ToLower(d.String())
}

// Numel returns the number of elements of a tensor of the shape, ∏ shape
// (1 for a scalar).
func Numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// Marshal serializes m deterministically: the same model gives the same bytes.
func Marshal(m *onnxpb.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("onnx: marshal model %q: %w", m.GetGraph().GetName(), err)
	}
	return b, nil
}

// Unmarshal parses a serialized model.
func Unmarshal(b []byte) (*onnxpb.ModelProto, error) {
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("onnx: not an ONNX model: %w", err)
	}
	if m.GetGraph() == nil {
		return nil, fmt.Errorf("onnx: model has no graph")
	}
	return m, nil
}

// ReadFile reads an ONNX model file.
func ReadFile(path string) (*onnxpb.ModelProto, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// WriteFile writes m to path atomically: it writes a temporary file in the
// same directory, syncs it and renames it over path, so a crash never leaves
// a half-written model behind.
func WriteFile(path string, m *onnxpb.ModelProto) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b)
}
