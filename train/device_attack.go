package train

import (
	"fmt"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/ortoracle"
)

// devicePGD runs the training attack's PGD steps as a graph on the device
// (graphs.PGDStepGraph) with the parameters bound to the device-resident
// state: the start point and the batch go in once, then the clean batch,
// the iterate and the gradient stay on the device, and the last iterate is
// left there for the training step. It takes the same steps as
// attacks.PGD.Perturb.
type devicePGD struct {
	attack attacks.PGD
	s      *ort.Session
	b      *ort.Binding
	start  *ort.Tensor[float32] // the start point, on the host
	params []string
}

// newDevicePGD builds the attack's step for the network of spec (its Loss
// replaced by the CE attack head) on opts.Device.
func newDevicePGD(spec graphs.GraphSpec, attack attacks.PGD, opts ort.Options) (_ *devicePGD, err error) {
	if attack.Loss != "" && attack.Loss != "ce" {
		return nil, fmt.Errorf("train: the device attack ascends ce, not %s", attack.Loss)
	}
	head, _, err := ortoracle.LossHead("ce", 0)
	if err != nil {
		return nil, err
	}
	spec.Name, spec.Loss = "pgd-step", head
	g, err := graphs.PGDStepGraph(spec, float32(attack.Eps), float32(attack.Alpha))
	if err != nil {
		return nil, err
	}
	p := &devicePGD{attack: attack}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.s, p.b, err = newBoundSession(g.Model, opts); err != nil {
		return nil, err
	}
	if p.start, err = ort.NewZeros[float32](g.Inputs[0].Shape...); err != nil {
		return nil, err
	}
	for _, name := range g.OutputNames() {
		if err := p.b.BindOutputToDevice(name); err != nil {
			return nil, err
		}
	}
	for _, pi := range g.Params {
		p.params = append(p.params, pi.Name)
	}
	return p, nil
}

// perturb returns the last PGD iterate for the clean batch x with labels y
// (example i drawing its start from seeds[i]), on the device, with the
// parameters from device or host (see bindState). With no steps it is the
// start point, written into x instead (and the result nil).
func (p *devicePGD) perturb(x *ort.Tensor[float32], y *ort.Tensor[int64], seeds []uint64, device map[string]*ort.DeviceTensor, host map[string]*ort.Tensor[float32]) (*ort.DeviceTensor, error) {
	copy(p.start.Data(), p.attack.StartPoint(x.Data(), seeds))
	if p.attack.Steps == 0 {
		copy(x.Data(), p.start.Data())
		return nil, nil
	}
	for _, err := range []error{
		bindState(p.b, p.params, device, host),
		p.b.BindInput("x", x), p.b.BindInput("y", y), p.b.BindInput("x_adv", p.start),
	} {
		if err != nil {
			return nil, err
		}
	}
	var xAdv, xCopy *ort.DeviceTensor
	defer func() { xCopy.Close() }()
	for range p.attack.Steps {
		out, err := p.b.Run()
		if err != nil {
			xAdv.Close()
			return nil, err
		}
		xAdv.Close() // the binding holds its own reference while bound
		xCopy.Close()
		xAdv, xCopy = out["x_adv_updated"], out["x_copy"]
		if err := p.b.BindDeviceInput("x_adv", xAdv); err != nil {
			xAdv.Close()
			return nil, err
		}
		if err := p.b.BindDeviceInput("x", xCopy); err != nil {
			xAdv.Close()
			return nil, err
		}
	}
	return xAdv, nil
}

func (p *devicePGD) close() {
	if p.b != nil {
		p.b.Close()
	}
	if p.s != nil {
		p.s.Close()
	}
	if p.start != nil {
		p.start.Close()
	}
}
