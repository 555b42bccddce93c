package onnx_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

func TestWriteReadRoundTrip(t *testing.T) {
	name := "g"
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(onnx.IRVersion), Graph: &onnxpb.GraphProto{Name: &name}}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := onnx.WriteFile(path, m); err != nil {
		t.Fatal(err)
	}
	got, err := onnx.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, m) {
		t.Errorf("read back %v, wrote %v", got, m)
	}
}

func TestReadFileRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.onnx")
	if err := os.WriteFile(path, []byte("\xff\xff not protobuf"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := onnx.ReadFile(path); err == nil {
		t.Error("garbage accepted as a model")
	}
}

func TestDTypeNameAndNumel(t *testing.T) {
	for d, want := range map[onnx.DType]string{onnx.Float: "float32", onnx.Int64: "int64", onnx.Bool: "bool",
		onnxpb.TensorProto_DOUBLE: "float64", onnxpb.TensorProto_BFLOAT16: "bfloat16", onnxpb.TensorProto_UNDEFINED: "unknown"} {
		if got := onnx.DTypeName(d); got != want {
			t.Errorf("DTypeName(%v) = %q, want %q", d, got, want)
		}
	}
	if n := onnx.Numel([]int64{2, 3, 4}); n != 24 {
		t.Errorf("Numel([2 3 4]) = %d", n)
	}
	if n := onnx.Numel(nil); n != 1 {
		t.Errorf("Numel of a scalar = %d, want 1", n)
	}
}
