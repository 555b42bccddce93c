package train

import (
	"fmt"
	"strings"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/graphs/lower"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/ort"
)

// deviceStepper runs a graphs.TrainStepSGDGraph with its state (parameters,
// BatchNorm statistics, momentum buffers) resident in the memory of the
// session's device: each state output stays on the device and is bound as
// the next step's input, so a step moves only x, y and lr in and the loss
// out. The first step reads the state from host tensors; values copies it
// back (for checkpoints, attacks and evaluation).
type deviceStepper struct {
	opts     ort.Options
	s        *ort.Session
	b        *ort.Binding
	x        *ort.Tensor[float32]
	y        *ort.Tensor[int64]
	lr       *ort.Tensor[float32]
	loss     *ort.Tensor[float32]
	names    []string                        // state names, in graph input order
	shapes   map[string][]int64              // state shapes
	host     map[string]*ort.Tensor[float32] // the state until the first step
	state    map[string]*ort.DeviceTensor    // the state after a step
	download *download                       // built on first use by values
	ownXY    bool                            // x and y were allocated here
}

// newDeviceStepper creates the session for g on opts.Device and binds its
// inputs and outputs. values holds every parameter and buffer by name and,
// optionally, momentum buffers by "<param>.momentum_buffer" (zero when
// absent: PyTorch's first step).
// x and y are the batch tensors the caller fills (nil: allocated here, and
// closed with the stepper).
func newDeviceStepper(g *graphs.Assembled, opts ort.Options, values map[string][]float32, x *ort.Tensor[float32], y *ort.Tensor[int64]) (_ *deviceStepper, err error) {
	st := &deviceStepper{opts: opts, shapes: map[string][]int64{}, host: map[string]*ort.Tensor[float32]{}, x: x, y: y, ownXY: x == nil}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	if st.s, st.b, err = newBoundSession(g.Model, opts); err != nil {
		return nil, err
	}
	if st.lr, err = ort.NewZeros[float32](1); err != nil {
		return nil, err
	}
	if st.loss, err = ort.NewZeros[float32](1); err != nil {
		return nil, err
	}
	for _, in := range g.Inputs {
		var v ort.Value
		switch in.Name {
		case "x":
			if st.ownXY {
				st.x, err = ort.NewZeros[float32](in.Shape...)
			}
			v = st.x
		case "y":
			if st.ownXY {
				st.y, err = ort.NewZeros[int64](in.Shape...)
			}
			v = st.y
		case "lr":
			v = st.lr
		default:
			st.names, st.shapes[in.Name] = append(st.names, in.Name), in.Shape
			var t *ort.Tensor[float32]
			if t, err = ort.NewZeros[float32](in.Shape...); err != nil {
				return nil, err
			}
			st.host[in.Name], v = t, t
			init, ok := values[in.Name]
			switch {
			case !ok && !strings.HasSuffix(in.Name, graphs.MomentumSuffix):
				return nil, fmt.Errorf("state %s: no value", in.Name)
			case ok && len(init) != len(t.Data()):
				return nil, fmt.Errorf("state %s: %d values, want %d", in.Name, len(init), len(t.Data()))
			}
			copy(t.Data(), init)
		}
		if err != nil {
			return nil, err
		}
		if err := st.b.BindInput(in.Name, v); err != nil {
			return nil, err
		}
	}
	for _, name := range g.OutputNames() {
		switch {
		case name == "loss":
			err = st.b.BindOutput(name, st.loss)
		case name == "logits" || st.shapes[strings.TrimSuffix(name, "_updated")] != nil:
			err = st.b.BindOutputToDevice(name)
		default:
			err = fmt.Errorf("graph %s: output %s updates no input", g.Proto.GetGraph().GetName(), name)
		}
		if err != nil {
			return nil, err
		}
	}
	return st, nil
}

// step runs one training step at learning rate lr on the batch in x (or
// xOnDevice, when not nil: an attack's result left on the device) and y, and
// returns the loss.
func (st *deviceStepper) step(lr float32, xOnDevice *ort.DeviceTensor) (float32, error) {
	st.lr.Data()[0] = lr
	if xOnDevice != nil {
		if err := st.b.BindDeviceInput("x", xOnDevice); err != nil {
			return 0, err
		}
	}
	out, err := st.b.Run()
	if xOnDevice != nil && err == nil { // the next step reads x again, unless told otherwise
		if err = st.b.BindInput("x", st.x); err != nil {
			for _, t := range out {
				t.Close()
			}
		}
	}
	if err != nil {
		return 0, err
	}
	out["logits"].Close() // not needed by the fit loop; stays on the device
	old := st.state
	st.state = map[string]*ort.DeviceTensor{}
	for _, name := range st.names {
		st.state[name] = out[name+"_updated"]
		if err == nil {
			err = st.b.BindDeviceInput(name, st.state[name])
		}
	}
	for _, t := range old { // bound no more: the next step reads st.state
		t.Close()
	}
	return st.loss.Data()[0], err
}

// setValues replaces the state by values (every state name), read from the
// host by the next step.
func (st *deviceStepper) setValues(values map[string][]float32) error {
	for _, name := range st.names {
		t := st.host[name]
		if len(values[name]) != len(t.Data()) {
			return fmt.Errorf("state %s: %d values, want %d", name, len(values[name]), len(t.Data()))
		}
		copy(t.Data(), values[name])
		if err := st.b.BindInput(name, t); err != nil {
			return err
		}
	}
	for _, t := range st.state {
		t.Close()
	}
	st.state = nil
	return nil
}

// values copies the state to the host, by name.
func (st *deviceStepper) values() (map[string][]float32, error) {
	out := map[string][]float32{}
	if st.state == nil {
		for name, t := range st.host {
			out[name] = append([]float32(nil), t.Data()...)
		}
		return out, nil
	}
	if st.download == nil {
		d, err := newDownload(st.names, st.shapes, st.opts)
		if err != nil {
			return nil, err
		}
		st.download = d
	}
	return st.download.run(st.state)
}

func (st *deviceStepper) close() {
	for _, t := range st.state {
		t.Close()
	}
	if st.download != nil {
		st.download.close()
	}
	if st.b != nil {
		st.b.Close()
	}
	if st.s != nil {
		st.s.Close()
	}
	for _, t := range st.host {
		t.Close()
	}
	for _, t := range []*ort.Tensor[float32]{st.lr, st.loss} {
		if t != nil {
			t.Close()
		}
	}
	if st.ownXY && st.x != nil {
		st.x.Close()
	}
	if st.ownXY && st.y != nil {
		st.y.Close()
	}
}

// download copies device tensors to the host: a graph of Identity nodes on
// the device, inputs bound to the device tensors, outputs to host tensors.
type download struct {
	s     *ort.Session
	b     *ort.Binding
	names []string
	out   map[string]*ort.Tensor[float32]
}

func newDownload(names []string, shapes map[string][]int64, opts ort.Options) (_ *download, err error) {
	m, err := graphs.Build("download", func(b *graphs.Builder) {
		for _, name := range names {
			b.Output(name+"_host", graphs.Identity(b.Input(name, onnx.Float, shapes[name]...)))
		}
	})
	if err != nil {
		return nil, err
	}
	d := &download{names: names, out: map[string]*ort.Tensor[float32]{}}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.s, d.b, err = newBoundSession(m, opts); err != nil {
		return nil, err
	}
	for _, name := range names {
		t, err := ort.NewZeros[float32](shapes[name]...)
		if err != nil {
			return nil, err
		}
		d.out[name] = t
		if err := d.b.BindOutput(name+"_host", t); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// run copies state (every name) to the host and returns copies by name.
func (d *download) run(state map[string]*ort.DeviceTensor) (map[string][]float32, error) {
	for _, name := range d.names {
		if err := d.b.BindDeviceInput(name, state[name]); err != nil {
			return nil, err
		}
	}
	if _, err := d.b.Run(); err != nil {
		return nil, err
	}
	out := map[string][]float32{}
	for name, t := range d.out {
		out[name] = append([]float32(nil), t.Data()...)
	}
	return out, nil
}

func (d *download) close() {
	if d.b != nil {
		d.b.Close()
	}
	if d.s != nil {
		d.s.Close()
	}
	for _, t := range d.out {
		t.Close()
	}
}

// newBoundSession creates a session for m on opts.Device (m lowered for a
// CPU session, as ortsession.New does) and its I/O binding.
func newBoundSession(m *graphs.Model, opts ort.Options) (*ort.Session, *ort.Binding, error) {
	model, err := lower.ForSession(m, opts)
	if err != nil {
		return nil, nil, err
	}
	s, err := ort.NewSession(model, m.InputNames(), m.OutputNames(), opts)
	if err != nil {
		return nil, nil, fmt.Errorf("session %s: %w", m.Proto.GetGraph().GetName(), err)
	}
	b, err := s.NewBinding(opts.Device)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, b, nil
}
