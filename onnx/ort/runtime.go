package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"
)

// ErrNoRuntime is wrapped by every error caused by a missing or unusable
// ONNX Runtime library, or by using the package before Init.
var ErrNoRuntime = errors.New("ONNX Runtime unavailable")

// InstallHint says how to get the library; errors wrapping ErrNoRuntime end with it.
const InstallHint = "install or reinstall it with `make setup` (scripts/install-ort.sh) or point --ort-lib / TAET_ORT_LIB at libonnxruntime.so"

// DefaultLibrary is where scripts/install-ort.sh puts the library, relative
// to the repository root.
const DefaultLibrary = "third_party/onnxruntime/libonnxruntime.so.1"

var state struct {
	sync.Mutex
	path    string
	version string
	err     error // the first Init's error, returned again by later calls
	done    bool
}

// LibraryPath returns the library file Init would load for explicit: explicit
// itself when non-empty, else the first DefaultLibrary found in the working
// directory or one of its parents, or beside the executable (or one of its
// parents), else the bare name "libonnxruntime.so.1" for the dynamic loader.
func LibraryPath(explicit string) string {
	if explicit != "" {
		return explicit
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, DefaultLibrary)
			if _, err := os.Stat(p); err == nil {
				return p
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "libonnxruntime.so.1"
}

// Init loads the runtime library (see LibraryPath) and creates the process's
// runtime environment. Only the first call in a process does anything; later
// calls return its result, whatever path they pass. The error wraps
// ErrNoRuntime and ends with InstallHint. A library given as a path is
// checked first (CheckLibrary): a broken file is an error, not a crash.
func Init(explicitPath string) error {
	state.Lock()
	defer state.Unlock()
	if state.done {
		return state.err
	}
	state.done = true
	path := LibraryPath(explicitPath)
	if filepath.IsAbs(path) || filepath.Base(path) != path {
		if err := CheckLibrary(path); err != nil {
			state.err = fmt.Errorf("%w: library %s: %v; %s", ErrNoRuntime, path, err, InstallHint)
			return state.err
		}
	}
	ortgo.SetSharedLibraryPath(path)
	if err := ortgo.InitializeEnvironment(ortgo.WithLogLevelError()); err != nil {
		state.err = fmt.Errorf("%w: load %s: %v; %s", ErrNoRuntime, path, err, InstallHint)
		return state.err
	}
	state.path, state.version = path, ortgo.GetVersion()
	return nil
}

// Loaded returns the path and version of the library Init loaded, or ok
// false if no Init has succeeded.
func Loaded() (path, version string, ok bool) {
	state.Lock()
	defer state.Unlock()
	return state.path, state.version, state.done && state.err == nil
}

// checkInit returns an error wrapping ErrNoRuntime unless Init has succeeded.
func checkInit() error {
	if _, _, ok := Loaded(); !ok {
		return fmt.Errorf("%w: ort.Init has not succeeded; %s", ErrNoRuntime, InstallHint)
	}
	return nil
}
