package ort_test

import (
	"cmp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taet-ml/taet/onnx/ort"
)

// fakeFile creates root/rel (and its folders) holding data.
func fakeFile(t *testing.T, root, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCUDADiscoveryInAFakeTree lays the libraries out the way CUDA 13 pip
// wheels, a toolkit and TAET_CUDA_LIBS do, and checks which copy is found.
func TestCUDADiscoveryInAFakeTree(t *testing.T) {
	root := t.TempDir()
	venv := filepath.Join(root, "home/u/venv")
	extra := filepath.Join(root, "extra")
	env := map[string]string{
		"VIRTUAL_ENV":     venv,
		"HOME":            filepath.Join(root, "home/u"),
		ort.CUDAPathEnv:   extra,
		"LD_LIBRARY_PATH": filepath.Join(root, "nonexistent") + ":" + filepath.Join(root, "ld"),
	}
	getenv := func(k string) string { return env[k] }

	toolkit := fakeFile(t, root, "usr/local/cuda-13.0/lib64/libcudart.so.13", nil)
	fakeFile(t, root, "opt/conda/lib/python3.12/site-packages/nvidia/cu13/lib/libcudart.so.13", nil) // shadowed by the toolkit
	blasLt := fakeFile(t, root, "opt/conda/lib/python3.12/site-packages/nvidia/cu13/lib/libcublasLt.so.13", nil)
	fakeFile(t, root, "opt/conda/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13", nil) // shadowed by TAET_CUDA_LIBS
	blas := fakeFile(t, extra, "libcublas.so.13", nil)
	cudnn := fakeFile(t, venv, "lib/python3.11/site-packages/nvidia/cudnn/lib/libcudnn.so.9", nil)
	curand := fakeFile(t, root, "ld/libcurand.so.10", nil)
	driver := fakeFile(t, root, "usr/lib/x86_64-linux-gnu/libcuda.so.1", nil)
	fakeFile(t, root, "usr/lib/python3/dist-packages/nvidia/cufft/libcufft.so.12", nil) // not in a lib folder

	dirs := ort.CUDASearchDirs(root, getenv)
	if len(dirs) == 0 || dirs[0] != extra {
		t.Fatalf("search dirs %v: want %s first", dirs, extra)
	}
	want := map[string]string{
		"libcuda.so.1": driver, "libcudart.so.13": toolkit, "libcublasLt.so.13": blasLt,
		"libcublas.so.13": blas, "libcurand.so.10": curand, "libcufft.so.12": "", "libcudnn.so.9": cudnn,
		"libnvrtc.so.13": "",
	}
	libs := ort.FindCUDALibraries(dirs)
	if len(libs) != len(want) {
		t.Fatalf("got %d libraries, want %d: %+v", len(libs), len(want), libs)
	}
	for _, l := range libs {
		if got, ok := want[l.Soname]; !ok || got != l.Path {
			t.Errorf("%s: found at %q, want %q", l.Soname, l.Path, got)
		}
		if l.Source == "" {
			t.Errorf("%s: no hint how to get it", l.Soname)
		}
	}
}

// TestPreloadCUDA loads real shared libraries (copies of the system's zlib
// standing in for the CUDA ones) and reports broken and missing ones by name.
func TestPreloadCUDA(t *testing.T) {
	var zlib string
	for _, p := range []string{"/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib64/libz.so.1", "/lib64/libz.so.1"} {
		if _, err := os.Stat(p); err == nil {
			zlib = p
			break
		}
	}
	if zlib == "" {
		t.Skip("needs a system zlib (libz.so.1) as a stand-in shared library")
	}
	elf, err := os.ReadFile(zlib)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := []ort.CUDALibrary{
		{Soname: "libcudart.so.13", Path: fakeFile(t, dir, "libcudart.so.13", elf)},
		{Soname: "libcublas.so.13", Path: fakeFile(t, dir, "libcublas.so.13", elf)},
	}
	if err := ort.PreloadCUDA(good); err != nil {
		t.Fatalf("preloading real shared libraries: %v", err)
	}
	broken := ort.CUDALibrary{Soname: "libcudnn.so.9", Source: "pip: nvidia-cudnn-cu13", Path: fakeFile(t, dir, "libcudnn.so.9", []byte("not ELF"))}
	missing := ort.CUDALibrary{Soname: "libtaet-missing.so.13", Source: "pip: nvidia-missing"}
	optional := ort.CUDALibrary{Soname: "libtaet-optional.so.13", Source: "pip: nvidia-optional", Optional: true}
	if err := ort.PreloadCUDA(append(good, optional)); err != nil {
		t.Errorf("a missing optional library failed the preload: %v", err)
	}
	err = ort.PreloadCUDA(append(good, broken, missing, optional))
	if err == nil {
		t.Fatal("a broken and a missing library were preloaded")
	}
	for _, s := range []string{"libcudnn.so.9 unusable", "nvidia-cudnn-cu13", "libtaet-missing.so.13 not found", "nvidia-missing", ort.CUDAPathEnv} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
	if strings.Contains(err.Error(), "libcudart.so.13 ") || strings.Contains(err.Error(), "optional") {
		t.Errorf("error %q blames a library that loaded or is optional", err)
	}
}

// TestPreloadSatisfiesSonames builds (with the C compiler cgo uses) a
// library with a versioned soname, in a folder the loader does not search,
// and a library that links it, as the CUDA provider links cuBLAS: the second
// loads only once the first is preloaded.
func TestPreloadSatisfiesSonames(t *testing.T) {
	cc, err := exec.LookPath(cmp.Or(os.Getenv("CC"), "gcc"))
	if err != nil {
		t.Skip("needs the C compiler cgo uses")
	}
	deps, consumers := t.TempDir(), t.TempDir()
	depSrc := fakeFile(t, consumers, "dep.c", []byte("int taet_dep(void) { return 1; }\n"))
	useSrc := fakeFile(t, consumers, "use.c", []byte("int taet_dep(void);\nint taet_use(void) { return taet_dep(); }\n"))
	dep := filepath.Join(deps, "libtaetdep.so.13")
	provider := filepath.Join(consumers, "libtaet_provider.so")
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-Wl,-soname,libtaetdep.so.13", "-o", dep, depSrc},
		{"-shared", "-fPIC", "-Wl,--no-as-needed", "-o", provider, useSrc, dep},
	} {
		if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", cc, args, err, out)
		}
	}
	p := ort.CUDALibrary{Soname: "libtaet_provider.so", Path: provider}
	if err := ort.PreloadCUDA([]ort.CUDALibrary{p}); err == nil || !strings.Contains(err.Error(), "libtaetdep.so.13") {
		t.Fatalf("the consumer loaded before its dependency was preloaded (%v)", err)
	}
	if err := ort.PreloadCUDA([]ort.CUDALibrary{{Soname: "libtaetdep.so.13", Path: dep}, p}); err != nil {
		t.Fatalf("after preloading its dependency: %v", err)
	}
}
