// Package ortsession is where taet creates the ONNX Runtime sessions that
// train and attack: a session over fixed, preallocated inputs and outputs
// that counts the time spent inside the runtime. Training steps (package
// train) and attack oracles (package ortoracle) both come from New.
package ortsession

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/graphs/lower"
	"github.com/taet-ml/taet/onnx/ort"
)

// Session is an ONNX Runtime session whose inputs are fixed values (the
// caller writes into them before Run) and whose float outputs are
// allocated by New, in the model's output order.
type Session struct {
	s        *ort.Session
	inputs   []ort.Value
	outputs  []*ort.Tensor[float32]
	outNames []string
	inRun    time.Duration
}

// New creates a session for m reading inputs, in m's input order. A CPU
// session runs m lowered for opts.Kernels (package graphs/lower).
//
// Where m stores the parameters (the attacks' and evaluation's graphs,
// built anew for every training step), m, its lowered form and their
// serialized bytes each hold a copy of them, and the runtime makes more
// while it creates the session. New is m's last user: it returns m and
// the lowered graph to the system before the runtime starts, and the bytes
// once it is done (a full collection each, a few ms), so that the copies do
// not add up in the process's peak memory or stay in the heap until a
// collection at twice its size.
func New(m *graphs.Model, opts ort.Options, inputs []ort.Value) (*Session, error) {
	name, inputNames := m.Proto.GetGraph().GetName(), m.InputNames()
	outputs := make([]Output, len(m.Outputs))
	for i, o := range m.Outputs {
		outputs[i] = Output{Name: o.Name, Shape: o.Shape}
	}
	b, err := lower.ForSession(m, opts)
	if err != nil {
		return nil, err
	}
	debug.FreeOSMemory()
	s, err := NewFromBytes(b, inputNames, inputs, outputs, opts)
	if err != nil {
		return nil, fmt.Errorf("session %s: %w", name, err)
	}
	debug.FreeOSMemory()
	return s, nil
}

// Output names a float32 output of a session and gives its shape.
type Output struct {
	Name  string
	Shape []int64
}

// NewFromBytes creates a session for a serialized model (an exported file,
// say) reading inputs under inputNames, with float32 outputs of the names
// and shapes given.
func NewFromBytes(model []byte, inputNames []string, inputs []ort.Value, outputs []Output, opts ort.Options) (*Session, error) {
	outNames := make([]string, len(outputs))
	for i, o := range outputs {
		outNames[i] = o.Name
	}
	start := time.Now()
	s, err := ort.NewSession(model, inputNames, outNames, opts)
	if err != nil {
		return nil, err
	}
	ss := &Session{s: s, inputs: inputs, outNames: outNames, inRun: time.Since(start)}
	for _, o := range outputs {
		t, err := ort.NewZeros[float32](o.Shape...)
		if err != nil {
			ss.Close()
			return nil, err
		}
		ss.outputs = append(ss.outputs, t)
	}
	return ss, nil
}

// Run runs the session once on the current contents of its inputs.
func (s *Session) Run() error {
	outs := make([]ort.Value, len(s.outputs))
	for i, o := range s.outputs {
		outs[i] = o
	}
	start := time.Now()
	err := s.s.Run(s.inputs, outs)
	s.inRun += time.Since(start)
	return err
}

// Output returns the data of the output called name; it panics if the
// model has no such output (a programming error).
func (s *Session) Output(name string) []float32 {
	for i, n := range s.outNames {
		if n == name {
			return s.outputs[i].Data()
		}
	}
	panic("ortsession: no output " + name)
}

// RuntimeTime returns the time spent inside the runtime creating and
// running the session since New or the last ResetTime.
func (s *Session) RuntimeTime() time.Duration { return s.inRun }

// ResetTime sets RuntimeTime to zero.
func (s *Session) ResetTime() { s.inRun = 0 }

// Close releases the session and its outputs; a nil Session is a no-op.
func (s *Session) Close() {
	if s == nil {
		return
	}
	for _, o := range s.outputs {
		o.Close()
	}
	s.s.Close()
}
