// Package ortest helps tests run graphs on ONNX Runtime: it initialises the
// runtime or skips the test saying how to enable it, runs a graphs.Model on
// Go slices, and validates models with the ONNX checker.
package ortest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/graphs/lower"
	"github.com/taet-ml/taet/internal/testenv"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/ort"
)

// Init initialises ONNX Runtime (ort.Init with TAET_ORT_LIB, falling back to
// ONNXRUNTIME_SHARED_LIBRARY_PATH, then the default search) or skips t with
// a message saying how to enable the test.
func Init(t testing.TB) {
	t.Helper()
	lib := os.Getenv("TAET_ORT_LIB")
	if lib == "" {
		lib = os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH")
	}
	if err := ort.Init(lib); err != nil {
		testenv.Missing(t, "needs ONNX Runtime (make ort): %v", err)
	}
}

// Tensor is a test input or output: a shape and the elements of one type.
type Tensor struct {
	Shape []int64
	F     []float32 // float32 elements
	I     []int64   // int64 elements
	B     []bool    // bool elements
}

// F32 returns a float32 Tensor.
func F32(data []float32, shape ...int64) Tensor { return Tensor{Shape: shape, F: data} }

// I64 returns an int64 Tensor.
func I64(data []int64, shape ...int64) Tensor { return Tensor{Shape: shape, I: data} }

// Run executes m once on ONNX Runtime (CPU, 1 thread) as a CPU session with
// the default kernels runs it (lowered, see package lower: blocked-layout
// convolutions, and oneDNN weight gradients where oneDNN loads) with inputs
// in m's input order and returns its outputs in m's output order. It fails t
// on any error. Call Init first.
func Run(t testing.TB, m *graphs.Model, inputs ...Tensor) []Tensor {
	t.Helper()
	return RunWith(t, m, ort.Default, inputs...)
}

// RunWith is Run with the given CPU kernels.
func RunWith(t testing.TB, m *graphs.Model, k ort.CPUKernels, inputs ...Tensor) []Tensor {
	t.Helper()
	out, err := RunErr(m, k, inputs...)
	if err != nil {
		t.Fatalf("run %s: %v", m.Proto.GetGraph().GetName(), err)
	}
	return out
}

// RunErr is RunWith returning the error instead of failing a test.
func RunErr(m *graphs.Model, k ort.CPUKernels, inputs ...Tensor) (outs []Tensor, err error) {
	if len(inputs) != len(m.Inputs) {
		return nil, fmt.Errorf("%d inputs given, model has %v", len(inputs), m.InputNames())
	}
	opts := ort.Options{Threads: 1, Kernels: k}
	bytes, err := lower.ForSession(m, opts)
	if err != nil {
		return nil, err
	}
	s, err := ort.NewSession(bytes, m.InputNames(), m.OutputNames(), opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var vals []ort.Value
	defer func() {
		for _, v := range vals {
			v.Close()
		}
	}()
	ins := make([]ort.Value, len(inputs))
	for i, in := range inputs {
		v, err := newValue(in, m.Inputs[i].DType)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", m.Inputs[i].Name, err)
		}
		vals = append(vals, v)
		ins[i] = v
	}
	outs = make([]Tensor, len(m.Outputs))
	outVals := make([]ort.Value, len(m.Outputs))
	for i, o := range m.Outputs {
		n := int64(1)
		for _, d := range o.Shape {
			n *= d
		}
		outs[i].Shape = o.Shape
		switch o.DType {
		case onnx.Float:
			outs[i].F = make([]float32, n)
		case onnx.Int64:
			outs[i].I = make([]int64, n)
		case onnx.Bool:
			outs[i].B = make([]bool, n)
		}
		v, err := newValue(outs[i], o.DType)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", o.Name, err)
		}
		vals = append(vals, v)
		outVals[i] = v
	}
	if err := s.Run(ins, outVals); err != nil {
		return nil, err
	}
	return outs, nil
}

func newValue(t Tensor, dtype onnx.DType) (ort.Value, error) {
	switch dtype {
	case onnx.Float:
		return ort.NewTensor(t.Shape, t.F)
	case onnx.Int64:
		return ort.NewTensor(t.Shape, t.I)
	case onnx.Bool:
		return ort.NewTensor(t.Shape, t.B)
	}
	return nil, fmt.Errorf("element type %v not supported", dtype)
}

// Checker is Debian's python3 with the onnx package (python3-onnx).
const checkerPython = "/usr/bin/python3"

// Check validates m with onnx.checker.check_model(m, full_check=True) from
// Debian's python3-onnx, failing t with the checker's message. It skips when
// the checker is absent (.ci/run installs it, so CI never skips).
func Check(t testing.TB, m *graphs.Model) {
	t.Helper()
	if err := exec.Command(checkerPython, "-c", "import onnx").Run(); err != nil {
		testenv.Missing(t, "needs the ONNX checker: apt-get install python3-onnx (%v)", err)
	}
	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(checkerPython, "-c",
		"import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ONNX checker rejects %s: %v\n%s", m.Proto.GetGraph().GetName(), err, out)
	}
}
