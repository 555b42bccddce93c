package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/testenv"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/onnx/ort/onednn"
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

// TestVersionWithoutOneDNN: where oneDNN does not load, version says why
// and that CPU sessions use the blocked kernels, and asking for onednn
// says so in one line on stderr and runs blocked, exit 0. Where it loads,
// version gives its version and onednn is the default.
func TestVersionWithoutOneDNN(t *testing.T) {
	ortest.Init(t)
	bin := buildTaetctl(t)
	run := func(lib string, args ...string) (stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(taetctlEnv(t), "TAET_CPU_KERNELS=")
		if lib != "" {
			cmd.Env = append(cmd.Env, onednn.LibraryEnv+"="+lib)
		}
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("taetctl %v: %v\n%s", args, err, errOut.String())
		}
		return out.String(), errOut.String()
	}
	missing := filepath.Join(t.TempDir(), "libdnnl.so.2")
	out, _ := run(missing, "version")
	for _, want := range []string{"onednn: oneDNN not loadable (" + missing + ": cannot open shared object file", "cpu kernels: blocked\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("version without oneDNN: no %q in\n%s", want, out)
		}
	}
	out, errOut := run(missing, "--cpu-kernels", "onednn", "version")
	if want := "taetctl: --cpu-kernels onednn: oneDNN not loadable (" + missing; !strings.HasPrefix(errOut, want) || strings.Count(errOut, "\n") != 1 ||
		!strings.HasSuffix(errOut, "; using blocked\n") || !strings.Contains(out, "cpu kernels: blocked\n") {
		t.Errorf("--cpu-kernels onednn without oneDNN: stderr %q, want one line %q…; using blocked; stdout\n%s", errOut, want, out)
	}
	if _, err := ort.OneDNNVersion(); err != nil {
		testenv.Missing(t, "needs oneDNN (apt-get install libdnnl2) for the rest: %v", err)
	}
	out, _ = run("", "version")
	if !regexp.MustCompile(`(?m)^onednn 2\.\d+\.\d+: libdnnl\.so\.2\ncpu kernels: onednn$`).MatchString(out) {
		t.Errorf("version with oneDNN: want its version and onednn kernels in\n%s", out)
	}
}
