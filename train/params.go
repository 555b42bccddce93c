package train

import (
	"fmt"

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
