package train

import (
	"fmt"
	"time"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx/ort"
)

// params holds every parameter and buffer in runtime tensors that wrap Go
// slices: the sessions read them in place, the optimizer updates them in place.
type params struct {
	info     []graphs.ParamInfo
	tensors  []*ort.Tensor[float32]
	velocity map[string][]float32 // SGD momentum of each trainable parameter
}

func newParams(info []graphs.ParamInfo, values map[string][]float32) (*params, error) {
	p := &params{info: info, velocity: map[string][]float32{}}
	for _, pi := range info {
		v, ok := values[pi.Name]
		if !ok || int64(len(v)) != pi.Size() {
			p.close()
			return nil, fmt.Errorf("parameter %s: no value of %d elements", pi.Name, pi.Size())
		}
		t, err := ort.NewTensor(pi.Shape, v)
		if err != nil {
			p.close()
			return nil, err
		}
		p.tensors = append(p.tensors, t)
		if pi.Trainable {
			p.velocity[pi.Name] = make([]float32, pi.Size())
		}
	}
	return p, nil
}

func (p *params) values() []ort.Value {
	out := make([]ort.Value, len(p.tensors))
	for i, t := range p.tensors {
		out[i] = t
	}
	return out
}

func (p *params) close() {
	for _, t := range p.tensors {
		t.Close()
	}
}

// session is an ONNX Runtime session with preallocated inputs and outputs;
// it counts the time spent inside the runtime (creating it and running it).
type session struct {
	s        *ort.Session
	inputs   []ort.Value
	outputs  []*ort.Tensor[float32]
	outNames []string
	inRun    time.Duration
}

// newSession creates a session for m whose inputs are fixed (x, y, then the
// parameters) and whose float outputs are allocated here.
func newSession(m *graphs.Model, opts ort.Options, inputs []ort.Value) (*session, error) {
	b, err := m.Bytes()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	s, err := ort.NewSession(b, m.InputNames(), m.OutputNames(), opts)
	if err != nil {
		return nil, fmt.Errorf("session %s: %w", m.Proto.GetGraph().GetName(), err)
	}
	ss := &session{s: s, inputs: inputs, outNames: m.OutputNames(), inRun: time.Since(start)}
	for _, o := range m.Outputs {
		t, err := ort.NewZeros[float32](o.Shape...)
		if err != nil {
			ss.close()
			return nil, err
		}
		ss.outputs = append(ss.outputs, t)
	}
	return ss, nil
}

func (s *session) run() error {
	outs := make([]ort.Value, len(s.outputs))
	for i, o := range s.outputs {
		outs[i] = o
	}
	start := time.Now()
	err := s.s.Run(s.inputs, outs)
	s.inRun += time.Since(start)
	return err
}

// output returns the data of the output called name.
func (s *session) output(name string) []float32 {
	for i, n := range s.outNames {
		if n == name {
			return s.outputs[i].Data()
		}
	}
	panic("train: no output " + name)
}

func (s *session) close() {
	if s == nil {
		return
	}
	for _, o := range s.outputs {
		o.Close()
	}
	s.s.Close()
}
