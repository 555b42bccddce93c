package graphs

import "github.com/taet-ml/taet/onnx"

// MomentumSuffix names the SGD momentum buffer of a parameter, as in
// PyTorch's optimizer state: "<param>.momentum_buffer".
const MomentumSuffix = ".momentum_buffer"

// SGDStep returns θ and the momentum buffer v after one step of PyTorch's
// torch.optim.SGD (dampening 0, no Nesterov), evaluated in this order so
// that it rounds exactly like train's Go update:
//
//	v' = μ·v + (g + λ·θ),  θ' = θ − lr·v'
//
// θ, g and v have one shape; lr is a float32 [1] graph value (it follows the
// schedule), μ (momentum) and λ (weight decay) are constants. With v = 0 on
// the first step, v' = g + λ·θ, PyTorch's first-step buffer.
func SGDStep(theta, grad, velocity, lr *Value, momentum, weightDecay float32) (newTheta, newVelocity *Value) {
	b := theta.b
	v := Add(Mul(b.Scalar(momentum), velocity), Add(grad, Mul(b.Scalar(weightDecay), theta)))
	return Sub(theta, Mul(lr, v)), v
}

// TrainStepSGDGraph assembles a training step that also applies the SGD
// update, so parameters and optimizer state can stay where the graph runs
// (on a GPU, between steps):
//
//	inputs:  x [N, C, H, W], y [N], every parameter and buffer by name,
//	         lr [1], then "<param>.momentum_buffer" for every trainable
//	         parameter (in Params order)
//	outputs: loss [1], logits [N, K], "<name>_updated" for every parameter
//	         (after SGDStep) and buffer (new running statistic) in Params
//	         order, then "<param>.momentum_buffer_updated" for every
//	         trainable parameter
func TrainStepSGDGraph(s GraphSpec, momentum, weightDecay float32) (*Assembled, error) {
	var params []ParamInfo
	m, err := Build(s.Name, func(b *Builder) {
		st := s.trainStep(b)
		lr := b.Input("lr", onnx.Float, 1)
		updated := map[string]*Value{}
		for _, u := range st.vars.Updates() {
			updated[u.Name] = u.Value
		}
		newVelocity := make([]*Value, len(st.trainable))
		for i, p := range st.trainable {
			v := b.Input(p.Name()+MomentumSuffix, onnx.Float, p.Shape()...)
			updated[p.Name()], newVelocity[i] = SGDStep(p, st.grads[i], v, lr, momentum, weightDecay)
		}
		params = st.vars.Params()
		for _, p := range params {
			b.Output(p.Name+"_updated", updated[p.Name])
		}
		for i, p := range st.trainable {
			b.Output(p.Name()+MomentumSuffix+"_updated", newVelocity[i])
		}
	})
	if err != nil {
		return nil, err
	}
	return &Assembled{m, params}, nil
}
