package models

import "github.com/taet-ml/taet/graphs"

// scope is where a submodule builds: the builder's node scope and the
// state-dict prefix of the parameters declared inside it, kept in step, so
// that "layer1.0" → "conv1" gives nodes "…/layer1.0/conv1/Conv_0" and the
// parameter "layer1.0.conv1.weight".
type scope struct {
	v      *graphs.Vars
	prefix string // "layer1.0."; "" at the top
}

// sub builds the submodule called name with fn and returns its output.
func (s scope) sub(name string, fn func(s scope) *graphs.Value) *graphs.Value {
	var y *graphs.Value
	s.v.Builder().WithScope(name, func() { y = fn(scope{s.v, s.prefix + name + "."}) })
	return y
}

// param declares the trainable parameter prefix+name.
func (s scope) param(name string, shape []int64, init graphs.InitFunc) *graphs.Value {
	return s.v.Param(s.prefix+name, shape, init)
}

// linear is nn.Linear called name on rows x [M, in]: x·Wᵀ + b with weight
// [out, in] and bias [out], as one Gemm.
func (s scope) linear(name string, x *graphs.Value, out int64, weightInit, biasInit graphs.InitFunc) *graphs.Value {
	return s.sub(name, func(s scope) *graphs.Value {
		w := s.param("weight", []int64{out, x.Dim(1)}, weightInit)
		b := s.param("bias", []int64{out}, biasInit)
		return graphs.Gemm(x, w, b, graphs.GemmOpts{TransB: true})
	})
}
