package export

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/onnxpb"
)

// floats returns the elements of a float32 tensor stored in the proto
// (raw_data or float_data).
func floats(t *onnxpb.TensorProto) ([]float32, error) {
	if t.GetDataType() != int32(onnx.Float) {
		return nil, fmt.Errorf("tensor %s: element type %v, want float32", t.GetName(), onnx.DType(t.GetDataType()))
	}
	n := onnx.Numel(t.GetDims())
	if raw := t.GetRawData(); raw != nil || t.GetFloatData() == nil {
		if int64(len(raw)) != 4*n {
			return nil, fmt.Errorf("tensor %s %v: %d bytes of data, want %d (external data is not supported)", t.GetName(), t.GetDims(), len(raw), 4*n)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	if int64(len(t.GetFloatData())) != n {
		return nil, fmt.Errorf("tensor %s %v: %d values, want %d", t.GetName(), t.GetDims(), len(t.GetFloatData()), n)
	}
	return slices.Clone(t.GetFloatData()), nil
}

// int64s returns the elements of an int64 tensor stored in the proto
// (raw_data or int64_data), or nil and false for any other tensor.
func int64s(t *onnxpb.TensorProto) ([]int64, bool) {
	if t.GetDataType() != int32(onnx.Int64) {
		return nil, false
	}
	n := onnx.Numel(t.GetDims())
	if raw := t.GetRawData(); raw != nil {
		if int64(len(raw)) != 8*n {
			return nil, false
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return out, true
	}
	return slices.Clone(t.GetInt64Data()), int64(len(t.GetInt64Data())) == n
}

// floatTensor returns a float32 TensorProto holding data as raw bytes.
func floatTensor(name string, dims []int64, data []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(data))
	for i, f := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return &onnxpb.TensorProto{Name: &name, Dims: slices.Clone(dims), DataType: ptr(int32(onnx.Float)), RawData: raw}
}

// int64Tensor returns a 1-D int64 TensorProto holding data as raw bytes.
func int64Tensor(name string, data []int64) *onnxpb.TensorProto {
	raw := make([]byte, 8*len(data))
	for i, x := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return &onnxpb.TensorProto{Name: &name, Dims: []int64{int64(len(data))}, DataType: ptr(int32(onnx.Int64)), RawData: raw}
}

// constantNode returns a Constant node called name whose output is name.
func constantNode(name string, t *onnxpb.TensorProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{Name: &name, OpType: ptr("Constant"), Output: []string{name},
		Attribute: []*onnxpb.AttributeProto{{Name: ptr("value"), Type: ptr(onnxpb.AttributeProto_TENSOR), T: t}}}
}

// intAttr returns an INT attribute.
func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: &name, Type: ptr(onnxpb.AttributeProto_INT), I: &v}
}

// attr returns n's attribute called name, or nil.
func attr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
