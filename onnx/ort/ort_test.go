package ort_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/onnx/ort"
)

func TestParseDevice(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ort.Device
		ok   bool
	}{
		{"cpu", ort.Device{}, true},
		{"", ort.Device{}, true},
		{"cuda", ort.Device{CUDA: true}, true},
		{"cuda:1", ort.Device{CUDA: true, ID: 1}, true},
		{"cuda:-1", ort.Device{}, false},
		{"gpu", ort.Device{}, false},
	} {
		got, err := ort.ParseDevice(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDevice(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestLibraryPathFindsTheInstalledLibrary(t *testing.T) {
	if got := ort.LibraryPath("/explicit.so"); got != "/explicit.so" {
		t.Errorf("explicit path: got %q", got)
	}
	dir := t.TempDir()
	lib := filepath.Join(dir, ort.DefaultLibrary)
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lib, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	if got := ort.LibraryPath(""); got != lib {
		t.Errorf("from %s: got %q, want %q", sub, got, lib)
	}
}

func TestTensorsWrapGoMemory(t *testing.T) {
	ortest.Init(t)
	data := []float32{1, 2, 3, 4, 5, 6}
	x, err := ort.NewTensor([]int64{2, 3}, data)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	data[4] = 42
	if x.Data()[4] != 42 {
		t.Error("tensor does not share the slice it wraps")
	}
	if _, err := ort.NewTensor([]int64{2, 2}, data); err == nil {
		t.Error("a shape/length mismatch was accepted")
	}
	if _, err := ort.NewTensor[float32](nil, []float32{1}); err == nil {
		t.Error("a rank-0 tensor was accepted")
	}
}

func TestCUDAUnavailableIsAClearError(t *testing.T) {
	ortest.Init(t)
	if err := ort.Providers()["cuda"]; err == nil {
		t.Skip("a CUDA execution provider is available here")
	}
	_, err := ort.NewSession([]byte("not a model"), []string{"x"}, []string{"y"}, ort.Options{Device: ort.Device{CUDA: true}})
	if !errors.Is(err, ort.ErrNoCUDA) {
		t.Errorf("got %v, want an error wrapping ErrNoCUDA", err)
	}
}

func TestBadModelBytes(t *testing.T) {
	ortest.Init(t)
	if _, err := ort.NewSession([]byte("not a model"), []string{"x"}, []string{"y"}, ort.Options{Threads: 1}); err == nil {
		t.Error("garbage model bytes were accepted")
	}
}

// TestSessionRefusesBadThreads: library callers who build Options directly
// get the same bounds as the CLI, before anything is created.
func TestSessionRefusesBadThreads(t *testing.T) {
	ortest.Init(t)
	for _, n := range []int{-1, ort.MaxThreads() + 1} {
		_, err := ort.NewSession([]byte("not a model"), []string{"x"}, []string{"y"}, ort.Options{Threads: n})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("threads %d", n)) {
			t.Errorf("Threads %d: got %v, want the thread-count error", n, err)
		}
	}
}
