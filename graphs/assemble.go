package graphs

import (
	"fmt"

	"github.com/taet-ml/taet/onnx"
)

// Net builds a network: logits [N, K] from images x [N, C, H, W] in [0, 1],
// taking its parameters from v.
type Net func(v *Vars, x *Value) *Value

// LossHead returns a float32 scalar loss from logits [N, K] and int64 labels y [N].
type LossHead func(logits, y *Value) *Value

// GraphSpec is what every assembled graph is made of. One graph serves one
// batch size (static shapes).
type GraphSpec struct {
	Name  string
	Batch int64
	Image []int64 // [C, H, W]
	Net   Net
	Loss  LossHead // unused by EvalGraph
}

// Assembled is a graph together with the network's parameters.
type Assembled struct {
	*Model
	Params []ParamInfo
}

func (s GraphSpec) inputs(b *Builder, labels bool) (x, y *Value) {
	if len(s.Image) != 3 {
		panic(&BuildError{Op: "Assemble", Err: fmt.Errorf("image shape %v: want [C, H, W]", s.Image)})
	}
	x = b.Input("x", onnx.Float, s.Batch, s.Image[0], s.Image[1], s.Image[2])
	if labels {
		y = b.Input("y", onnx.Int64, s.Batch)
	}
	return x, y
}

// TrainStepGraph assembles the graph of one training step:
//
//	inputs:  x [N, C, H, W], y [N], then every parameter and buffer by name
//	outputs: loss [1], logits [N, K], "<param>_grad" for every trainable
//	         parameter (in Params order), "<buffer>_updated" for every
//	         BatchNorm running statistic
//
// BatchNormalization uses batch statistics. Parameters are inputs because
// they change every step.
func TrainStepGraph(s GraphSpec) (*Assembled, error) {
	var params []ParamInfo
	m, err := Build(s.Name, func(b *Builder) {
		st := s.trainStep(b)
		for i, g := range st.grads {
			b.Output(st.trainable[i].Name()+"_grad", g)
		}
		st.outputBuffers()
		params = st.vars.Params()
	})
	if err != nil {
		return nil, err
	}
	return &Assembled{m, params}, nil
}

// trainStep is the forward and backward pass shared by the train-step graphs.
type trainStep struct {
	vars      *Vars
	trainable []*Value
	grads     []*Value // d loss / d trainable[i]
}

// trainStep declares x and y, builds the network in training mode and its
// loss, outputs loss and logits, and differentiates the loss.
func (s GraphSpec) trainStep(b *Builder) trainStep {
	x, y := s.inputs(b, true)
	v := NewTrainVars(b)
	logits := s.Net(v, x)
	loss := s.Loss(logits, y)
	trainable := v.Trainable()
	grads := Grad(loss, trainable)
	b.Output("loss", Reshape(loss, 1))
	b.Output("logits", logits)
	return trainStep{vars: v, trainable: trainable, grads: grads}
}

// outputBuffers outputs every BatchNorm running statistic after the step.
func (st trainStep) outputBuffers() {
	for _, u := range st.vars.Updates() {
		st.vars.b.Output(u.Name+"_updated", u.Value)
	}
}

// InputGradGraph assembles the graph attacks iterate on:
//
//	inputs:  x [N, C, H, W], y [N], then every parameter and buffer by name
//	         (or none, when values is not nil: then they are initializers)
//	outputs: loss [1], logits [N, K], x_grad [N, C, H, W]
//
// BatchNormalization runs in inference mode. The loss head is the attack's
// (mean or summed cross-entropy, CW margin, DLR, …).
func InputGradGraph(s GraphSpec, values map[string][]float32) (*Assembled, error) {
	var params []ParamInfo
	m, err := Build(s.Name, func(b *Builder) {
		x, y := s.inputs(b, true)
		v := NewInferVars(b, values)
		logits := s.Net(v, x)
		loss := s.Loss(logits, y)
		b.Output("loss", Reshape(loss, 1))
		b.Output("logits", logits)
		b.Output("x_grad", Grad(loss, []*Value{x})[0])
		params = v.Params()
	})
	if err != nil {
		return nil, err
	}
	return &Assembled{m, params}, nil
}

// EvalGraph assembles x [N, C, H, W] → logits [N, K] with BatchNormalization
// in inference mode. With values the parameters are initializers (the
// deployable form); with nil values they are inputs.
func EvalGraph(s GraphSpec, values map[string][]float32) (*Assembled, error) {
	var params []ParamInfo
	m, err := Build(s.Name, func(b *Builder) {
		x, _ := s.inputs(b, false)
		v := NewInferVars(b, values)
		b.Output("logits", s.Net(v, x))
		params = v.Params()
	})
	if err != nil {
		return nil, err
	}
	return &Assembled{m, params}, nil
}

// WithFeatures returns logits, recording features [N, D] as the
// penultimate features they were computed from, so that a LossHead given
// the logits can read them with Features (REAT's tail-feature alignment
// needs them). Nets call it on the logits they return.
func WithFeatures(logits, features *Value) *Value {
	if features.b != logits.b || features.Rank() != 2 || features.Dim(0) != logits.Dim(0) {
		panic(&BuildError{Op: "WithFeatures", Err: fmt.Errorf("features %s for logits %s: want [N, D] of the same graph", features, logits)})
	}
	logits.features = features
	return logits
}

// Features returns the penultimate features [N, D] the Net declared for
// logits with WithFeatures. It panics with a *BuildError if it declared
// none.
func Features(logits *Value) *Value {
	if logits.features == nil {
		panic(&BuildError{Op: "Features", Err: fmt.Errorf("logits %s: the network declared no penultimate features", logits)})
	}
	return logits.features
}
