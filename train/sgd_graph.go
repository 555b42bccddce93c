package train

import (
	"fmt"
	"strings"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx/ort"
)

// sgdGraphStepper runs a graphs.TrainStepSGDGraph: the SGD update happens
// inside the graph, so a step's only Go-side work is filling x and y. The
// state (parameters, BatchNorm statistics, momentum buffers) lives in two
// sets of tensors: a step reads one and writes the other, then they swap,
// so nothing is copied between steps.
type sgdGraphStepper struct {
	s       *ort.Session
	x       *ort.Tensor[float32]
	y       *ort.Tensor[int64]
	lr      *ort.Tensor[float32]
	loss    *ort.Tensor[float32]
	logits  *ort.Tensor[float32]
	names   []string                  // state names: graph input names of the state
	state   [2][]*ort.Tensor[float32] // state[cur] is read by the next step
	cur     int
	inputs  [2][]ort.Value // Run's inputs when state[i] is read
	outputs [2][]ort.Value // Run's outputs when state[i] is read
}

// newSGDGraphStepper creates the session for g and its state from values,
// which holds every parameter and buffer by name and, optionally, momentum
// buffers by "<param>.momentum_buffer" (zero when absent: PyTorch's first step).
func newSGDGraphStepper(g *graphs.Assembled, opts ort.Options, values map[string][]float32) (_ *sgdGraphStepper, err error) {
	b, err := g.Bytes()
	if err != nil {
		return nil, err
	}
	st := &sgdGraphStepper{}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	shapes := map[string][]int64{}
	for _, in := range g.Inputs {
		shapes[in.Name] = in.Shape
	}
	for _, o := range g.Outputs {
		shapes[o.Name] = o.Shape
	}
	if st.x, err = ort.NewZeros[float32](shapes["x"]...); err != nil {
		return nil, err
	}
	if st.y, err = ort.NewZeros[int64](shapes["y"]...); err != nil {
		return nil, err
	}
	if st.lr, err = ort.NewZeros[float32](1); err != nil {
		return nil, err
	}
	if st.loss, err = ort.NewZeros[float32](1); err != nil {
		return nil, err
	}
	if st.logits, err = ort.NewZeros[float32](shapes["logits"]...); err != nil {
		return nil, err
	}
	index := map[string]int{}
	for _, name := range g.InputNames() {
		if name == "x" || name == "y" || name == "lr" {
			continue
		}
		index[name] = len(st.names)
		st.names = append(st.names, name)
		for i := range st.state {
			t, err := ort.NewZeros[float32](shapes[name]...)
			if err != nil {
				return nil, err
			}
			st.state[i] = append(st.state[i], t)
			v, ok := values[name]
			switch {
			case !ok && !strings.HasSuffix(name, graphs.MomentumSuffix):
				return nil, fmt.Errorf("state %s: no value", name)
			case ok && len(v) != len(t.Data()):
				return nil, fmt.Errorf("state %s: %d values, want %d", name, len(v), len(t.Data()))
			case ok && i == 0:
				copy(t.Data(), v)
			}
		}
	}
	for i := range 2 {
		read, write := st.state[i], st.state[1-i]
		for _, name := range g.InputNames() {
			switch name {
			case "x":
				st.inputs[i] = append(st.inputs[i], st.x)
			case "y":
				st.inputs[i] = append(st.inputs[i], st.y)
			case "lr":
				st.inputs[i] = append(st.inputs[i], st.lr)
			default:
				st.inputs[i] = append(st.inputs[i], read[index[name]])
			}
		}
		for _, name := range g.OutputNames() {
			switch name {
			case "loss":
				st.outputs[i] = append(st.outputs[i], st.loss)
			case "logits":
				st.outputs[i] = append(st.outputs[i], st.logits)
			default:
				j, ok := index[strings.TrimSuffix(name, "_updated")]
				if !ok {
					return nil, fmt.Errorf("graph %s: output %s updates no input", g.Proto.GetGraph().GetName(), name)
				}
				st.outputs[i] = append(st.outputs[i], write[j])
			}
		}
	}
	if st.s, err = ort.NewSession(b, g.InputNames(), g.OutputNames(), opts); err != nil {
		return nil, fmt.Errorf("session %s: %w", g.Proto.GetGraph().GetName(), err)
	}
	return st, nil
}

// step runs one training step at learning rate lr on the batch in x and y
// and returns the loss.
func (st *sgdGraphStepper) step(lr float32) (float32, error) {
	st.lr.Data()[0] = lr
	if err := st.s.Run(st.inputs[st.cur], st.outputs[st.cur]); err != nil {
		return 0, err
	}
	st.cur = 1 - st.cur
	return st.loss.Data()[0], nil
}

// values returns the current state by name (the slices the next step reads).
func (st *sgdGraphStepper) values() map[string][]float32 {
	out := make(map[string][]float32, len(st.names))
	for i, name := range st.names {
		out[name] = st.state[st.cur][i].Data()
	}
	return out
}

func (st *sgdGraphStepper) close() {
	if st.s != nil {
		st.s.Close()
	}
	for _, t := range []*ort.Tensor[float32]{st.x, st.lr, st.loss, st.logits} {
		if t != nil {
			t.Close()
		}
	}
	if st.y != nil {
		st.y.Close()
	}
	for _, set := range st.state {
		for _, t := range set {
			t.Close()
		}
	}
}
