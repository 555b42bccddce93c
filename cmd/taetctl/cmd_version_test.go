package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/taet-ml/taet/onnx/ort"
)

// TestVersionListsCUDALibraries: a library placed in $TAET_CUDA_LIBS is
// listed with its path; one placed nowhere is listed as missing.
func TestVersionListsCUDALibraries(t *testing.T) {
	dir := t.TempDir()
	blas := filepath.Join(dir, "libcublasLt.so.13")
	if err := os.WriteFile(blas, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(ort.CUDAPathEnv, dir)
	var out bytes.Buffer
	if err := runVersion(globalOptions{JSON: true}, &out); err != nil {
		t.Fatal(err)
	}
	var r versionReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	got := map[string]cudaLibrary{}
	for _, l := range r.CUDALibraries {
		got[l.Name] = l
	}
	if l := got["libcublasLt.so.13"]; l.Path != blas || l.Status != "found" {
		t.Errorf("libcublasLt.so.13: got %+v, want found at %s", l, blas)
	}
	if l, ok := got["libcudnn.so.9"]; !ok || (l.Path == "") != (l.Status == "missing (pip: nvidia-cudnn-cu13)") {
		t.Errorf("libcudnn.so.9: got %+v, want a path or missing with its wheel", l)
	}
	if len(r.CUDALibraries) != len(ort.CUDALibraries()) {
		t.Errorf("listed %d libraries, discovery knows %d", len(r.CUDALibraries), len(ort.CUDALibraries()))
	}
}
