package train

// sgdStep applies one SGD update with momentum and weight decay to theta,
// in place, with PyTorch's semantics (dampening 0, no Nesterov):
//
//	d = g + wd·θ,  v ← μ·v + d,  θ ← θ − lr·v
//
// in PyTorch's order of operations (d first). With v = 0 on the first step
// v = d exactly, PyTorch's first-step buffer. theta, grad and velocity have
// the same length.
func sgdStep(theta, grad, velocity []float32, lr, momentum, wd float32) {
	_ = grad[len(theta)-1]
	_ = velocity[len(theta)-1]
	for i, t := range theta {
		v := momentum*velocity[i] + (grad[i] + wd*t)
		velocity[i] = v
		theta[i] = t - lr*v
	}
}
