package ort_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/taet-ml/taet/onnx/ort"
)

// TestMissingLibraryIsAClearError runs in a child process, since Init only
// acts once per process.
func TestMissingLibraryIsAClearError(t *testing.T) {
	if os.Getenv("TAET_ORT_CHILD") == "1" {
		err := ort.Init("/nonexistent/libonnxruntime.so")
		if !errors.Is(err, ort.ErrNoRuntime) || !strings.Contains(err.Error(), "make setup") {
			t.Fatalf("got %v, want ErrNoRuntime with an install hint", err)
		}
		if _, err := ort.NewZeros[float32](2); !errors.Is(err, ort.ErrNoRuntime) {
			t.Fatalf("tensor after a failed Init: got %v, want ErrNoRuntime", err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMissingLibraryIsAClearError$")
	cmd.Env = append(os.Environ(), "TAET_ORT_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestNotALibrary: a file that is not a shared library is an error, not a crash.
func TestNotALibrary(t *testing.T) {
	if os.Getenv("TAET_ORT_CHILD") == "2" {
		err := ort.Init(os.Args[0] + ".notalib")
		if !errors.Is(err, ort.ErrNoRuntime) {
			t.Fatalf("got %v, want ErrNoRuntime", err)
		}
		return
	}
	bad := os.Args[0] + ".notalib"
	if err := os.WriteFile(bad, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(bad)
	cmd := exec.Command(os.Args[0], "-test.run=^TestNotALibrary$")
	cmd.Env = append(os.Environ(), "TAET_ORT_CHILD=2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
