package train

import (
	"fmt"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/ortoracle"
)

// deviceOracle is the training attack's oracle (summed CE, see ortoracle.LossHead) when the state lives on a device: one input-gradient session
// with the parameters and BatchNorm statistics as inputs, bound to the
// tensors the last training step left on the device. An attack then costs
// neither a session per step (with a GPU's per-session convolution tuning)
// nor a copy of the parameters; per call only x and y go in and the logits
// and x_grad come out.
type deviceOracle struct {
	s       *ort.Session
	b       *ort.Binding
	x       *ort.Tensor[float32]
	y       *ort.Tensor[int64]
	loss    *ort.Tensor[float32]
	logits  *ort.Tensor[float32]
	grad    *ort.Tensor[float32]
	params  []string // the parameter and buffer inputs
	classes int
}

var _ attacks.Oracle = (*deviceOracle)(nil)

// newDeviceOracle builds the oracle for the network of spec (whose Loss is
// replaced by the CE attack head) on opts.Device.
func newDeviceOracle(spec graphs.GraphSpec, classes int, opts ort.Options) (_ *deviceOracle, err error) {
	head, _, err := ortoracle.LossHead("ce", 0)
	if err != nil {
		return nil, err
	}
	spec.Name, spec.Loss = "attack-ce", head
	g, err := graphs.InputGradGraph(spec, nil)
	if err != nil {
		return nil, err
	}
	o := &deviceOracle{classes: classes}
	defer func() {
		if err != nil {
			o.close()
		}
	}()
	if o.s, o.b, err = newBoundSession(g.Model, opts); err != nil {
		return nil, err
	}
	shape := map[string][]int64{}
	for _, v := range append(g.Inputs, g.Outputs...) {
		shape[v.Name] = v.Shape
	}
	if o.x, err = ort.NewZeros[float32](shape["x"]...); err != nil {
		return nil, err
	}
	if o.y, err = ort.NewZeros[int64](shape["y"]...); err != nil {
		return nil, err
	}
	if o.logits, err = ort.NewZeros[float32](shape["logits"]...); err != nil {
		return nil, err
	}
	if o.grad, err = ort.NewZeros[float32](shape["x_grad"]...); err != nil {
		return nil, err
	}
	if o.loss, err = ort.NewZeros[float32](shape["loss"]...); err != nil {
		return nil, err
	}
	for _, bind := range []error{
		o.b.BindInput("x", o.x), o.b.BindInput("y", o.y),
		o.b.BindOutput("loss", o.loss), o.b.BindOutput("logits", o.logits), o.b.BindOutput("x_grad", o.grad),
	} {
		if bind != nil {
			return nil, bind
		}
	}
	for _, p := range g.Params {
		o.params = append(o.params, p.Name)
	}
	return o, nil
}

// bindState binds every input of names on b: from device when it holds the
// name, else from host.
func bindState(b *ort.Binding, names []string, device map[string]*ort.DeviceTensor, host map[string]*ort.Tensor[float32]) error {
	for _, name := range names {
		var err error
		if t, ok := device[name]; ok {
			err = b.BindDeviceInput(name, t)
		} else {
			err = b.BindInput(name, host[name])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (o *deviceOracle) Batch() int   { return len(o.y.Data()) }
func (o *deviceOracle) Classes() int { return o.classes }
func (o *deviceOracle) Loss() string { return "ce" }

// Eval runs the session on x and y; see attacks.Oracle. The gradient is
// computed even when grad is nil.
func (o *deviceOracle) Eval(x []float32, y, target []int64, logits, grad []float32) error {
	if target != nil {
		return fmt.Errorf("train: the ce oracle takes no targets")
	}
	copy(o.x.Data(), x)
	copy(o.y.Data(), y)
	if _, err := o.b.Run(); err != nil {
		return err
	}
	copy(logits, o.logits.Data())
	if grad != nil {
		copy(grad, o.grad.Data())
	}
	return nil
}

func (o *deviceOracle) close() {
	if o.b != nil {
		o.b.Close()
	}
	if o.s != nil {
		o.s.Close()
	}
	for _, t := range []*ort.Tensor[float32]{o.x, o.loss, o.logits, o.grad} {
		if t != nil {
			t.Close()
		}
	}
	if o.y != nil {
		o.y.Close()
	}
}
