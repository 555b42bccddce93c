package models

import "github.com/taet-ml/taet/graphs"

// SmoothResNet returns o with every ReLU replaced by SiLU, x·σ(x): the same
// network wiring, smooth, for directional finite-difference checks that
// move every input at once (across ReLU kinks they are unreliable; the
// Relu and MaxPool rules have elementwise checks in graphs).
func SmoothResNet(o ResNetOpts) ResNetOpts {
	o.activation = func(x *graphs.Value) *graphs.Value { return graphs.Mul(x, graphs.Sigmoid(x)) }
	return o
}
