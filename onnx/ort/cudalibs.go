package ort

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// preload opens path with its symbols global, so that libraries loaded later
// (the CUDA execution provider, cuDNN's sub-libraries) resolve against it.
// It returns NULL on success, else dlerror's message.
static const char *preload(const char *path) {
	if (dlopen(path, RTLD_NOW | RTLD_GLOBAL) == NULL) {
		return dlerror();
	}
	return NULL;
}
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"
)

// CUDALibrary is one shared library that ONNX Runtime's CUDA execution
// provider (ORT 1.29.0, CUDA 13, cuDNN 9) needs at run time.
type CUDALibrary struct {
	Soname   string // file name the loader looks for, e.g. libcublasLt.so.13
	Source   string // where it comes from: the pip wheel that ships it, or the driver
	Path     string // where discovery found it; "" when missing
	Optional bool   // needed only by some kernels: loaded when found, no error when not
}

// cudaLibraries lists what the provider links (readelf -d: cudart, cublasLt,
// cublas, curand, the driver's libcuda) and what it opens itself by these
// names (cuFFT, cuDNN; NVRTC for run-time compiled kernels), dependencies
// first, in the order they are preloaded.
var cudaLibraries = []CUDALibrary{
	{Soname: "libcuda.so.1", Source: "the NVIDIA driver"},
	{Soname: "libcudart.so.13", Source: "pip: nvidia-cuda-runtime, CUDA 13"},
	{Soname: "libcublasLt.so.13", Source: "pip: nvidia-cublas, CUDA 13"},
	{Soname: "libcublas.so.13", Source: "pip: nvidia-cublas, CUDA 13"},
	{Soname: "libcurand.so.10", Source: "pip: nvidia-curand, CUDA 13"},
	{Soname: "libcufft.so.12", Source: "pip: nvidia-cufft, CUDA 13"},
	{Soname: "libcudnn.so.9", Source: "pip: nvidia-cudnn-cu13"},
	{Soname: "libnvrtc.so.13", Source: "pip: nvidia-cuda-nvrtc, CUDA 13", Optional: true},
}

// CUDAPathEnv names extra folders (colon-separated) searched first for the
// CUDA libraries, e.g. the nvidia/cu13/lib folder of a Python environment.
const CUDAPathEnv = "TAET_CUDA_LIBS"

// CUDASearchDirs returns the folders searched for the CUDA libraries, in
// order: $TAET_CUDA_LIBS, $LD_LIBRARY_PATH, /usr/local/cuda*/lib64, the
// nvidia/*/lib folders of pip wheels in the Python environments found
// ($VIRTUAL_ENV, $CONDA_PREFIX, ~/.local, pyenv versions, /usr/local, /usr,
// /opt/*), then the system library folders where the driver is installed.
// root prefixes every absolute pattern ("/" normally; a fake tree in tests);
// getenv reads the environment. Only existing folders are returned, once each.
func CUDASearchDirs(root string, getenv func(string) string) []string {
	var patterns []string
	for _, env := range []string{CUDAPathEnv, "LD_LIBRARY_PATH"} {
		for _, d := range filepath.SplitList(getenv(env)) {
			if d != "" {
				patterns = append(patterns, d)
			}
		}
	}
	patterns = append(patterns, filepath.Join(root, "usr/local/cuda*/lib64"))
	var pythons []string
	for _, env := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if d := getenv(env); d != "" {
			pythons = append(pythons, d)
		}
	}
	if home := getenv("HOME"); home != "" {
		pythons = append(pythons, filepath.Join(home, ".local"), filepath.Join(home, ".pyenv/versions/*"),
			filepath.Join(home, "*"), filepath.Join(home, "*/envs/*"))
	}
	for _, p := range []string{"usr/local", "usr", "opt/*", "opt/*/envs/*"} {
		pythons = append(pythons, filepath.Join(root, p))
	}
	for _, py := range pythons {
		for _, sp := range []string{"site-packages", "dist-packages"} {
			patterns = append(patterns, filepath.Join(py, "lib/python3*", sp, "nvidia/*/lib"))
		}
	}
	for _, p := range []string{"usr/lib/x86_64-linux-gnu", "usr/lib64", "usr/local/nvidia/lib64", "usr/lib/wsl/lib"} {
		patterns = append(patterns, filepath.Join(root, p))
	}

	var dirs []string
	seen := map[string]bool{}
	for _, pat := range patterns {
		matches, _ := filepath.Glob(pat) // the patterns are well-formed
		for _, d := range matches {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() && !seen[d] {
				seen[d] = true
				dirs = append(dirs, d)
			}
		}
	}
	return dirs
}

// FindCUDALibraries returns every library the CUDA provider needs with the
// first of dirs that holds it (Path "" when none does).
func FindCUDALibraries(dirs []string) []CUDALibrary {
	libs := append([]CUDALibrary(nil), cudaLibraries...)
	for i := range libs {
		for _, d := range dirs {
			p := filepath.Join(d, libs[i].Soname)
			if _, err := os.Stat(p); err == nil {
				libs[i].Path = p
				break
			}
		}
	}
	return libs
}

// CUDALibraries is FindCUDALibraries over this machine's CUDASearchDirs.
func CUDALibraries() []CUDALibrary {
	return FindCUDALibraries(CUDASearchDirs("/", os.Getenv))
}

// PreloadCUDA loads libs, in order, with their symbols global (what ONNX
// Runtime's Python package does before creating a CUDA session), so that the
// CUDA provider finds them wherever they are. A library without a Path is
// tried by its bare name (the dynamic loader's own search); an Optional one
// not found anywhere is skipped. The error names every library that could
// not be loaded and how to get it.
func PreloadCUDA(libs []CUDALibrary) error {
	var failed []string
	for _, l := range libs {
		name := l.Path
		if name == "" {
			name = l.Soname
		}
		cname := C.CString(name)
		msg := C.preload(cname)
		C.free(unsafe.Pointer(cname))
		switch {
		case msg == nil:
		case l.Path == "" && l.Optional:
		case l.Path == "":
			failed = append(failed, fmt.Sprintf("%s not found (get it from %s)", l.Soname, l.Source))
		default:
			failed = append(failed, fmt.Sprintf("%s unusable: %s (get it from %s)", l.Soname, C.GoString(msg), l.Source))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s; or point %s at the folder holding them",
			strings.Join(failed, ", "), CUDAPathEnv)
	}
	return nil
}

var cudaPreload struct {
	once sync.Once
	err  error
}

// preloadCUDAOnce runs PreloadCUDA over CUDALibraries once per process.
func preloadCUDAOnce() error {
	cudaPreload.once.Do(func() { cudaPreload.err = PreloadCUDA(CUDALibraries()) })
	return cudaPreload.err
}
