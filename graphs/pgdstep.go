package graphs

import "github.com/taet-ml/taet/onnx"

// PGDStepGraph assembles one L∞ PGD step that runs entirely in the graph,
// so an attack's iterates can stay on a GPU:
//
//	inputs:  x [N, C, H, W] (clean), x_adv [N, C, H, W], y [N], then every
//	         parameter and buffer by name (BatchNorm in inference mode)
//	outputs: x_adv_updated = min(max(x_adv + α·sign(∇ loss(x_adv)), max(x − ε, 0)), min(x + ε, 1)),
//	         x_copy = x (so the caller can keep x where the graph ran)
//
// in the order of the attacks package's Go step, so the two agree exactly.
// s.Loss is the attack loss (summed over the batch).
func PGDStepGraph(s GraphSpec, eps, alpha float32) (*Assembled, error) {
	var params []ParamInfo
	m, err := Build(s.Name, func(b *Builder) {
		x, y := s.inputs(b, true)
		xAdv := b.Input("x_adv", onnx.Float, x.Shape()...)
		v := NewInferVars(b, nil)
		loss := s.Loss(s.Net(v, xAdv), y)
		step := Add(xAdv, Mul(b.Scalar(alpha), Sign(Grad(loss, []*Value{xAdv})[0])))
		lo := Max(Sub(x, b.Scalar(eps)), b.Scalar(0))
		hi := Min(Add(x, b.Scalar(eps)), b.Scalar(1))
		b.Output("x_adv_updated", Min(Max(step, lo), hi))
		b.Output("x_copy", Identity(x))
		params = v.Params()
	})
	if err != nil {
		return nil, err
	}
	return &Assembled{m, params}, nil
}
