package graphs

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/taet-ml/taet/onnx"
)

// InitFunc fills a new parameter's data from rng (PyTorch-style initialisers live in models).
type InitFunc func(rng *rand.Rand, data []float32)

// Const returns an InitFunc that sets every element to c.
func Const(c float32) InitFunc {
	return func(_ *rand.Rand, data []float32) {
		for i := range data {
			data[i] = c
		}
	}
}

// ParamInfo describes one named tensor of a network: a trainable parameter
// or a buffer (a BatchNorm running statistic).
type ParamInfo struct {
	Name      string   `json:"name"`
	Shape     []int64  `json:"shape"`
	Trainable bool     `json:"trainable"`
	Init      InitFunc `json:"-"`
}

// Size returns the number of elements.
func (p ParamInfo) Size() int64 { return onnx.Numel(p.Shape) }

// Vars hands a network builder its parameters by torchvision-style name and
// decides how they enter the graph and how BatchNormalization runs:
//
//   - training (NewTrainVars): parameters and buffers are graph inputs,
//     BatchNormalization uses batch statistics and its updated running
//     statistics are collected (Updates);
//   - inference with inputs (NewInferVars with nil values): parameters are
//     graph inputs, BatchNormalization uses the running statistics;
//   - inference with initializers (NewInferVars with values): parameters are
//     constants stored in the graph, the runtime's fastest path.
type Vars struct {
	b        *Builder
	training bool
	values   map[string][]float32 // initializer data; nil: parameters are inputs
	bound    map[string]*Value    // the caller's values (NewBoundVars)
	params   []ParamInfo
	byName   map[string]*Value
	updates  []Update
	updated  map[string]int // index in updates of each buffer's newest value
}

// Update pairs a buffer with its value after a training step.
type Update struct {
	Name  string // the buffer, e.g. "layer1.0.bn1.running_mean"
	Value *Value
}

// NewTrainVars returns Vars for a training graph.
func NewTrainVars(b *Builder) *Vars { return &Vars{b: b, training: true, byName: map[string]*Value{}} }

// NewInferVars returns Vars for an inference graph; values, when not nil,
// holds every parameter's data and makes them initializers.
func NewInferVars(b *Builder, values map[string][]float32) *Vars {
	return &Vars{b: b, values: values, byName: map[string]*Value{}}
}

// NewBoundVars returns Vars for a training graph whose parameters and
// buffers are the caller's values, looked up by name, instead of new graph
// inputs: gradient checks declare them as their own inputs.
func NewBoundVars(b *Builder, bound map[string]*Value) *Vars {
	return &Vars{b: b, training: true, bound: bound, byName: map[string]*Value{}}
}

// Builder returns the builder the network is built on.
func (v *Vars) Builder() *Builder { return v.b }

// Training reports whether BatchNormalization uses batch statistics.
func (v *Vars) Training() bool { return v.training }

// Param returns the trainable parameter called name, declaring it on first use.
func (v *Vars) Param(name string, shape []int64, init InitFunc) *Value {
	return v.declare(ParamInfo{Name: name, Shape: shape, Trainable: true, Init: init})
}

// Buffer returns the non-trainable tensor called name, declaring it on first use.
func (v *Vars) Buffer(name string, shape []int64, init InitFunc) *Value {
	return v.declare(ParamInfo{Name: name, Shape: shape, Init: init})
}

func (v *Vars) declare(p ParamInfo) *Value {
	if val, ok := v.byName[p.Name]; ok {
		if !slices.Equal(val.shape, p.Shape) {
			panic(&BuildError{Op: "Param", Err: fmt.Errorf("parameter %s redeclared with shape %v, was %v", p.Name, p.Shape, val.shape)})
		}
		return val
	}
	var val *Value
	switch {
	case v.bound != nil:
		val = v.bound[p.Name]
		if val == nil || !slices.Equal(val.shape, p.Shape) {
			panic(&BuildError{Op: "Param", Err: fmt.Errorf("no bound value of shape %v for parameter %s", p.Shape, p.Name)})
		}
	case v.values != nil:
		data, ok := v.values[p.Name]
		if !ok {
			panic(&BuildError{Op: "Param", Err: fmt.Errorf("no value for parameter %s", p.Name)})
		}
		val = v.b.Initializer(p.Name, p.Shape, data)
	default:
		val = v.b.Input(p.Name, onnx.Float, p.Shape...)
	}
	v.byName[p.Name] = val
	v.params = append(v.params, p)
	return val
}

// Params returns every parameter and buffer declared so far, in declaration order.
func (v *Vars) Params() []ParamInfo { return slices.Clone(v.params) }

// Trainable returns the values of the trainable parameters, in declaration order.
func (v *Vars) Trainable() []*Value {
	var out []*Value
	for _, p := range v.params {
		if p.Trainable {
			out = append(out, v.byName[p.Name])
		}
	}
	return out
}

// Updates returns the new running statistics of a training graph: one
// Update per buffer, in the order the buffers were first updated, holding
// its value after the last pass of the network (see BatchNorm).
func (v *Vars) Updates() []Update { return slices.Clone(v.updates) }

// current returns the newest value of buffer: its update by the last
// training pass so far, or the buffer itself.
func (v *Vars) current(buffer *Value) *Value {
	if i, ok := v.updated[buffer.name]; ok {
		return v.updates[i].Value
	}
	return buffer
}

// update records value as the newest value of buffer.
func (v *Vars) update(buffer, value *Value) {
	if i, ok := v.updated[buffer.name]; ok {
		v.updates[i].Value = value
		return
	}
	if v.updated == nil {
		v.updated = map[string]int{}
	}
	v.updated[buffer.name] = len(v.updates)
	v.updates = append(v.updates, Update{buffer.name, value})
}

// BatchNorm applies BatchNormalization with the parameters prefix.weight,
// prefix.bias and buffers prefix.running_mean, prefix.running_var (PyTorch's
// names, epsilon 1e-5, momentum 0.1, i.e. ONNX momentum 0.9): batch
// statistics when training, recording the updated buffers, else the running
// ones. As in PyTorch's BatchNorm2d, training normalises with the biased
// batch variance and updates running_var with the unbiased one.
//
// A network run several times on one training Vars (TRADES and MART run it
// on the clean and the adversarial batch in one step) chains the running
// statistics as successive forward calls of a PyTorch module in train mode
// do: each pass updates the statistics the previous pass left, and Updates
// holds those of the last pass. The passes' outputs do not depend on the
// running statistics, only on their own batch's. ONNX Runtime then writes
// the first pass's running mean into the buffer's graph input (the op may
// work in place, and that output is no longer a graph output): a caller
// must not read a buffer's input tensor after the step ran, only its
// "_updated" output (train copies the outputs over the inputs).
func (v *Vars) BatchNorm(prefix string, x *Value) *Value {
	c := []int64{x.Dim(1)}
	scale := v.Param(prefix+".weight", c, Const(1))
	bias := v.Param(prefix+".bias", c, Const(0))
	mean := v.Buffer(prefix+".running_mean", c, Const(0))
	variance := v.Buffer(prefix+".running_var", c, Const(1))
	opts := BatchNormOpts{Epsilon: 1e-5, Momentum: 0.9, UnbiasedRunningVar: true}
	if !v.training {
		return BatchNormalization(x, scale, bias, mean, variance, opts)
	}
	y, newMean, newVar := BatchNormalizationTraining(x, scale, bias, v.current(mean), v.current(variance), opts)
	v.update(mean, newMean)
	v.update(variance, newVar)
	return y
}

// streamInit is the PCG stream of InitParams.
const streamInit uint64 = 0x7AE7

// InitParams returns initial data for params, drawn from a PCG generator
// seeded with seed, in order (the same seed gives the same parameters).
func InitParams(params []ParamInfo, seed uint64) map[string][]float32 {
	rng := rand.New(rand.NewPCG(seed, streamInit))
	out := make(map[string][]float32, len(params))
	for _, p := range params {
		data := make([]float32, p.Size())
		if p.Init != nil {
			p.Init(rng, data)
		}
		out[p.Name] = data
	}
	return out
}
