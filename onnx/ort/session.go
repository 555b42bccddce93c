package ort

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/taet-ml/taet/onnx/ort/onednn"
	ortgo "github.com/yalue/onnxruntime_go"
)

// Device names an execution provider: the CPU, or a CUDA GPU by index.
type Device struct {
	CUDA bool
	ID   int // GPU index when CUDA
}

// String returns "cpu" or "cuda:ID".
func (d Device) String() string {
	if d.CUDA {
		return "cuda:" + strconv.Itoa(d.ID)
	}
	return "cpu"
}

// ParseDevice parses "cpu", "cuda" (GPU 0) or "cuda:N".
func ParseDevice(s string) (Device, error) {
	switch {
	case s == "cpu" || s == "":
		return Device{}, nil
	case s == "cuda":
		return Device{CUDA: true}, nil
	case strings.HasPrefix(s, "cuda:"):
		id, err := strconv.Atoi(strings.TrimPrefix(s, "cuda:"))
		if err != nil || id < 0 {
			return Device{}, fmt.Errorf("device %q: want cpu, cuda or cuda:N with N ≥ 0", s)
		}
		return Device{CUDA: true, ID: id}, nil
	}
	return Device{}, fmt.Errorf("device %q: want cpu, cuda or cuda:N", s)
}

// CPUKernels selects how a CPU session runs the convolutions whose weights
// are graph inputs (see package graphs/lower).
type CPUKernels int

const (
	// Default is the fastest choice available here: OneDNN where libdnnl
	// loads, else Blocked (Resolve).
	Default CPUKernels = iota
	// Blocked lowers the convolutions to the runtime's blocked-layout
	// kernels: faster than Standard on every machine measured.
	Blocked
	// Standard runs the graph as written.
	Standard
	// OneDNN computes the convolutions (forward, weight and input
	// gradients), training-mode BatchNorm, LayerNorm, their gradients and the ReLU
	// gradients on oneDNN (package onednn), where libdnnl.so.2 loads, and
	// lowers what else it can as Blocked does.
	OneDNN
)

// String returns "default", "blocked", "standard" or "onednn".
func (k CPUKernels) String() string {
	switch k {
	case Blocked:
		return "blocked"
	case Standard:
		return "standard"
	case OneDNN:
		return "onednn"
	}
	return "default"
}

// ParseCPUKernels parses "onednn", "blocked", "standard", or "default" or
// "" (Default).
func ParseCPUKernels(s string) (CPUKernels, error) {
	switch s {
	case "", "default":
		return Default, nil
	case "onednn":
		return OneDNN, nil
	case "blocked":
		return Blocked, nil
	case "standard":
		return Standard, nil
	}
	return 0, fmt.Errorf("CPU kernels %q: want onednn, blocked or standard", s)
}

// Resolve returns the kernels a session with k runs: Default becomes OneDNN
// where oneDNN loads and Blocked where it does not; OneDNN where it does
// not load becomes Blocked, with a non-nil notice saying why ("cpu-kernels
// onednn: oneDNN not loadable (…); using blocked"). Other choices are
// returned as they are.
func (k CPUKernels) Resolve() (CPUKernels, error) {
	if k != Default && k != OneDNN {
		return k, nil
	}
	if _, err := onednn.Load(); err != nil {
		if k == OneDNN {
			return Blocked, fmt.Errorf("cpu-kernels onednn: %v; using blocked", err)
		}
		return Blocked, nil
	}
	return OneDNN, nil
}

// OneDNNVersion returns the version of the oneDNN library the onednn
// kernels use ("2.6.3"), or why it does not load.
func OneDNNVersion() (string, error) { return onednn.Load() }

// ErrNoCUDA is wrapped by the error of a session that asked for the CUDA
// execution provider where it cannot be created.
var ErrNoCUDA = errors.New("CUDA execution provider unavailable")

// Options configure a Session.
type Options struct {
	// Threads is the CPU execution provider's intra-op thread count;
	// 0 means one per CPU available (AvailableCPUs); more than MaxThreads
	// is refused (CheckThreads). Inter-op parallelism is off (1 thread).
	Threads int
	// Device selects the execution provider; the zero value is the CPU.
	Device Device
	// Kernels selects the CPU convolution kernels; CUDA sessions ignore it.
	// Sessions created from a graphs.Model apply it (graphs/lower); NewSession
	// runs the bytes it is given, on a CPU session able to run the onednn
	// kernels' ops where Kernels resolves to OneDNN.
	Kernels CPUKernels
	// ProfilePrefix, when set, writes the runtime's JSON profile to files
	// starting with it (see ONNX Runtime's profiling tools).
	ProfilePrefix string
}

// Session runs one model. It is not safe for concurrent Runs.
type Session struct {
	s       *ortgo.DynamicAdvancedSession
	inputs  []string
	outputs []string
}

// NewSession creates a session for the serialized ONNX model with the given
// input and output names, in the order Run takes them.
func NewSession(model []byte, inputs, outputs []string, opts Options) (*Session, error) {
	if err := checkInit(); err != nil {
		return nil, err
	}
	so, err := newSessionOptions(opts)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	s, err := ortgo.NewDynamicAdvancedSessionWithONNXData(model, inputs, outputs, so)
	if err != nil {
		return nil, fmt.Errorf("ort: create session: %w", err)
	}
	return &Session{s: s, inputs: inputs, outputs: outputs}, nil
}

func newSessionOptions(opts Options) (*ortgo.SessionOptions, error) {
	if err := CheckThreads(opts.Threads); err != nil {
		return nil, fmt.Errorf("ort: %w", err)
	}
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: session options: %w", err)
	}
	threads := opts.Threads
	if threads == 0 {
		threads = AvailableCPUs()
	}
	err = errors.Join(
		so.SetIntraOpNumThreads(threads),
		so.SetInterOpNumThreads(1),
	)
	if k, _ := opts.Kernels.Resolve(); err == nil && k == OneDNN && !opts.Device.CUDA {
		// oneDNN runs on OpenMP threads of its own: ONNX Runtime's idle
		// intra-op threads must not spin on the CPUs those need (spinning
		// cost the CIFAR ResNet-18 train step about 18% more CPU time).
		err = errors.Join(registerOneDNN(so, threads),
			so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"))
	}
	if err == nil && !opts.Device.CUDA {
		// The runtime's memory pattern plans each run's intermediate tensors
		// into one block laid out from the first run, and keeps it: on the
		// CIFAR ResNet-18 train step (onednn kernels, 2 threads) that block
		// took the peak RSS from 1.00 to 1.77 GB and the step 10% longer
		// than allocating each tensor from the arena when it is made
		// (BenchmarkStep/clean under /usr/bin/time, alternated).
		err = so.SetMemPattern(false)
	}
	if err == nil && !opts.Device.CUDA {
		if err = useSharedArena(); err == nil { // arena.go
			err = so.AddSessionConfigEntry("session.use_env_allocators", "1")
		}
	}
	if err == nil && opts.ProfilePrefix != "" {
		err = so.EnableProfiling(opts.ProfilePrefix)
	}
	if err == nil && opts.Device.CUDA {
		err = appendCUDA(so, opts.Device.ID)
	}
	if err != nil {
		so.Destroy()
		return nil, err
	}
	return so, nil
}

func appendCUDA(so *ortgo.SessionOptions, id int) error {
	if err := preloadCUDAOnce(); err != nil { // cudalibs.go
		return fmt.Errorf("%w: cuda:%d: %v", ErrNoCUDA, id, err)
	}
	co, err := ortgo.NewCUDAProviderOptions()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoCUDA, err)
	}
	defer co.Destroy()
	if err := co.Update(map[string]string{"device_id": strconv.Itoa(id)}); err != nil {
		return fmt.Errorf("%w: cuda:%d: %v", ErrNoCUDA, id, err)
	}
	if err := so.AppendExecutionProviderCUDA(co); err != nil {
		return fmt.Errorf("%w: cuda:%d: %v (install the provider libraries with scripts/install-ort.sh --cuda; they need CUDA 13 and cuDNN 9)", ErrNoCUDA, id, err)
	}
	return nil
}

// Inputs returns the input names, in Run's order.
func (s *Session) Inputs() []string { return s.inputs }

// Outputs returns the output names, in Run's order.
func (s *Session) Outputs() []string { return s.outputs }

// Run executes the model. inputs and outputs follow the names given to
// NewSession; every output must be preallocated with its exact shape
// (the runtime writes into its Go slice).
func (s *Session) Run(inputs, outputs []Value) error {
	if len(inputs) == 0 || len(outputs) == 0 {
		return fmt.Errorf("ort: run needs at least one input and one output")
	}
	if len(inputs) != len(s.inputs) || len(outputs) != len(s.outputs) {
		return fmt.Errorf("ort: run with %d inputs and %d outputs, session has %d and %d",
			len(inputs), len(outputs), len(s.inputs), len(s.outputs))
	}
	in := make([]ortgo.Value, len(inputs))
	for i, v := range inputs {
		if v == nil {
			return fmt.Errorf("ort: input %q is nil", s.inputs[i])
		}
		in[i] = v.ortValue()
	}
	out := make([]ortgo.Value, len(outputs))
	for i, v := range outputs {
		if v == nil {
			return fmt.Errorf("ort: output %q is nil: preallocate it", s.outputs[i])
		}
		out[i] = v.ortValue()
	}
	if err := s.s.Run(in, out); err != nil {
		return fmt.Errorf("ort: run: %w", err)
	}
	return nil
}

// Close releases the session.
func (s *Session) Close() error { return s.s.Destroy() }

// Providers reports, for each execution provider taet can use, whether a
// session can be created with it here: nil for yes, else the reason.
func Providers() map[string]error {
	res := map[string]error{"cpu": checkInit()}
	if res["cpu"] != nil {
		res["cuda"] = res["cpu"]
		return res
	}
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		res["cuda"] = err
		return res
	}
	defer so.Destroy()
	res["cuda"] = appendCUDA(so, 0)
	return res
}
