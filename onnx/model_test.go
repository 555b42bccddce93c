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
