package graphs

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/onnxpb"
)

// BuildError is the panic value of every graph-building failure: bad shapes,
// unsupported attributes, missing gradient rules. Build recovers it and
// returns it as an error; any other panic value is a bug and is re-raised.
type BuildError struct {
	Node string // e.g. "resnet18/layer2.0/conv1/Conv_0" ("" if not node-specific)
	Op   string // ONNX op_type ("" if not op-specific)
	Err  error
}

func (e *BuildError) Error() string {
	switch {
	case e.Op == "" && e.Node == "":
		return "graphs: " + e.Err.Error()
	case e.Node == "":
		return fmt.Sprintf("graphs: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("graphs: %s %s: %v", e.Op, e.Node, e.Err)
}

func (e *BuildError) Unwrap() error { return e.Err }

// fail panics with a *BuildError for op at the builder's next node name.
func (b *Builder) fail(op string, format string, args ...any) {
	panic(&BuildError{Node: b.peekName(op), Op: op, Err: fmt.Errorf(format, args...)})
}

// Builder accumulates the nodes of one graph. It is not safe for concurrent use.
type Builder struct {
	name    string
	scope   []string
	nodes   []*Node
	inputs  []*Value
	inits   []*Value
	outputs []*Value
	counts  map[string]int   // per scope/op: how many nodes were named so far
	taken   map[string]bool  // value and node names in use
	grad    *gradState       // set while Grad runs rules
	cgrads  []convGradRecord // the convolution gradients built (convWeightGrad, convInputGrad)
	rgrads  [][3]*Value      // the ReLU gradients built (gradRelu): dx, y, dy
	ngrads  []normGradRecord // the training-mode BatchNorm and the LayerNorm gradients built
}

// NewBuilder returns an empty builder for a graph called name. Most callers
// use Build instead, which also recovers BuildErrors.
func NewBuilder(name string) *Builder {
	return &Builder{name: name, counts: map[string]int{}, taken: map[string]bool{}}
}

// Value is an edge of the graph: a graph input, an initializer or a node
// output, with a static element type and shape.
type Value struct {
	b     *Builder
	name  string
	dtype onnx.DType
	shape []int64
	node  *Node               // producer; nil for inputs and initializers
	index int                 // output index in node
	init  *onnxpb.TensorProto // data when the value is an initializer
	// features are the penultimate features a Net declared for these
	// logits (WithFeatures), or nil.
	features *Value
}

// Name returns the value's ONNX name.
func (v *Value) Name() string { return v.name }

// DType returns the element type.
func (v *Value) DType() onnx.DType { return v.dtype }

// Shape returns a copy of the static shape ([] for a scalar).
func (v *Value) Shape() []int64 { return slices.Clone(v.shape) }

// Rank returns len(Shape()).
func (v *Value) Rank() int { return len(v.shape) }

// Dim returns dimension i; negative i counts from the end.
func (v *Value) Dim(i int) int64 {
	if i < 0 {
		i += len(v.shape)
	}
	return v.shape[i]
}

// Size returns the number of elements.
func (v *Value) Size() int64 { return onnx.Numel(v.shape) }

// Builder returns the builder v belongs to.
func (v *Value) Builder() *Builder { return v.b }

// Node returns the node producing v, or nil for graph inputs and initializers.
func (v *Value) Node() *Node { return v.node }

// IsInitializer reports whether v is an initializer (constant data stored in the graph).
func (v *Value) IsInitializer() bool { return v.init != nil }

func (v *Value) String() string {
	return fmt.Sprintf("%s %s%v", v.name, onnx.DTypeName(v.dtype), v.shape)
}

// Node is one ONNX operator application.
type Node struct {
	b       *Builder
	op      string
	name    string
	inputs  []*Value // nil where an optional input is omitted
	outputs []*Value
	attrs   map[string]*onnxpb.AttributeProto
	stop    bool                      // StopGradient: no gradient flows back
	custom  func(x, gy *Value) *Value // WithGrad: the custom gradient of an Identity
}

// Op returns the ONNX op_type.
func (n *Node) Op() string { return n.op }

// Name returns the node's unique name.
func (n *Node) Name() string { return n.name }

// Inputs returns the node's inputs (nil for an omitted optional input).
func (n *Node) Inputs() []*Value { return n.inputs }

// Input returns input i.
func (n *Node) Input(i int) *Value { return n.inputs[i] }

// Outputs returns the node's outputs.
func (n *Node) Outputs() []*Value { return n.outputs }

// Output returns output i.
func (n *Node) Output(i int) *Value { return n.outputs[i] }

// Attr returns the attribute called name, or nil.
func (n *Node) Attr(name string) *onnxpb.AttributeProto { return n.attrs[name] }

// AttrInt returns an int attribute, or def when absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a := n.attrs[name]; a != nil {
		return a.GetI()
	}
	return def
}

// AttrInts returns an ints attribute, or nil when absent.
func (n *Node) AttrInts(name string) []int64 {
	if a := n.attrs[name]; a != nil {
		return a.GetInts()
	}
	return nil
}

// AttrFloat returns a float attribute, or def when absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a := n.attrs[name]; a != nil {
		return a.GetF()
	}
	return def
}

// AttrString returns a string attribute, or def when absent.
func (n *Node) AttrString(name string, def string) string {
	if a := n.attrs[name]; a != nil {
		return string(a.GetS())
	}
	return def
}

// Build runs fn on a new Builder and returns the finished model. Panics of
// type *BuildError raised while fn runs are returned as errors; other panics
// propagate. fn declares the graph's outputs with Builder.Output.
func Build(name string, fn func(b *Builder)) (m *Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			var be *BuildError
			if e, ok := r.(error); ok && errors.As(e, &be) {
				m, err = nil, be
				return
			}
			panic(r)
		}
	}()
	b := NewBuilder(name)
	fn(b)
	return b.Finish(), nil
}

// WithScope runs fn with name appended to the scope path that prefixes the
// names of the nodes fn creates ("resnet18/layer1.0/conv1/Conv_0").
func (b *Builder) WithScope(name string, fn func()) {
	b.scope = append(b.scope, name)
	defer func() { b.scope = b.scope[:len(b.scope)-1] }()
	fn()
}

// Scope returns the current scope path, "" at the top.
func (b *Builder) Scope() string { return strings.Join(b.scope, "/") }

// namePrefix returns the scope path joined with op: "resnet18/layer1.0/Conv".
func (b *Builder) namePrefix(op string) string {
	if s := b.Scope(); s != "" {
		return s + "/" + op
	}
	return op
}

// peekName returns the name the next node of op would get.
func (b *Builder) peekName(op string) string {
	prefix := b.namePrefix(op)
	return prefix + "_" + strconv.Itoa(b.counts[prefix])
}

// claim reserves name, panicking if a value or node already has it.
func (b *Builder) claim(op, name string) {
	if b.taken[name] {
		b.fail(op, "name %q is already used in graph %q", name, b.name)
	}
	b.taken[name] = true
}

// Input declares a graph input of the given element type and static shape.
func (b *Builder) Input(name string, dtype onnx.DType, shape ...int64) *Value {
	b.claim("Input", name)
	for _, d := range shape {
		if d <= 0 {
			b.fail("Input", "input %q: dimension %d in shape %v must be positive", name, d, shape)
		}
	}
	v := &Value{b: b, name: name, dtype: dtype, shape: slices.Clone(shape)}
	b.inputs = append(b.inputs, v)
	return v
}

// Initializer declares a float32 tensor stored in the graph (a constant
// parameter in eval and deploy graphs). data is copied.
func (b *Builder) Initializer(name string, shape []int64, data []float32) *Value {
	b.claim("Initializer", name)
	if int64(len(data)) != onnx.Numel(shape) {
		b.fail("Initializer", "initializer %q: shape %v needs %d values, got %d", name, shape, onnx.Numel(shape), len(data))
	}
	v := &Value{b: b, name: name, dtype: onnx.Float, shape: slices.Clone(shape), init: floatTensor(name, shape, data)}
	b.inits = append(b.inits, v)
	return v
}

// Output declares v as a graph output called name, through an Identity node
// so that any value (an input included) can be exposed under any free name.
func (b *Builder) Output(name string, v *Value) *Value {
	b.check(v)
	b.claim("Output", name)
	n := &Node{b: b, op: "Identity", name: name + "_Output", inputs: []*Value{v}}
	b.claim("Output", n.name)
	out := &Value{b: b, name: name, dtype: v.dtype, shape: v.shape, node: n}
	n.outputs = []*Value{out}
	b.nodes = append(b.nodes, n)
	b.outputs = append(b.outputs, out)
	return out
}

// check panics unless v is a value of this builder.
func (b *Builder) check(vs ...*Value) {
	for _, v := range vs {
		if v != nil && v.b != b {
			panic(&BuildError{Err: fmt.Errorf("value %s belongs to graph %q, not %q", v.name, v.b.name, b.name)})
		}
	}
}

// attr is one typed attribute for addNode; see the attrInt family.
type attr = *onnxpb.AttributeProto

func attrInt(name string, i int64) attr {
	return &onnxpb.AttributeProto{Name: &name, Type: onnxpb.AttributeProto_INT.Enum(), I: &i}
}

func attrInts(name string, is []int64) attr {
	return &onnxpb.AttributeProto{Name: &name, Type: onnxpb.AttributeProto_INTS.Enum(), Ints: slices.Clone(is)}
}

func attrFloat(name string, f float32) attr {
	return &onnxpb.AttributeProto{Name: &name, Type: onnxpb.AttributeProto_FLOAT.Enum(), F: &f}
}

func attrString(name, s string) attr {
	return &onnxpb.AttributeProto{Name: &name, Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(s)}
}

func attrTensor(name string, t *onnxpb.TensorProto) attr {
	return &onnxpb.AttributeProto{Name: &name, Type: onnxpb.AttributeProto_TENSOR.Enum(), T: t}
}

// outSpec is the inferred element type and shape of one node output.
type outSpec struct {
	dtype onnx.DType
	shape []int64
}

// addNode appends a node of op with the given inputs (nil for omitted
// optional ones), attributes (nil entries are skipped) and inferred outputs,
// and returns its outputs.
func (b *Builder) addNode(op string, inputs []*Value, attrs []attr, outs ...outSpec) []*Value {
	b.check(inputs...)
	name := b.peekName(op)
	b.counts[b.namePrefix(op)]++
	b.claim(op, name)
	n := &Node{b: b, op: op, name: name, inputs: inputs, attrs: map[string]*onnxpb.AttributeProto{}}
	for _, a := range attrs {
		if a != nil {
			n.attrs[a.GetName()] = a
		}
	}
	for i, o := range outs {
		vname := name
		if i > 0 {
			vname = name + ":" + strconv.Itoa(i)
			b.claim(op, vname)
		}
		n.outputs = append(n.outputs, &Value{b: b, name: vname, dtype: o.dtype, shape: o.shape, node: n, index: i})
	}
	b.nodes = append(b.nodes, n)
	return n.outputs
}

// add1 is addNode for single-output nodes.
func (b *Builder) add1(op string, inputs []*Value, attrs []attr, out outSpec) *Value {
	return b.addNode(op, inputs, attrs, out)[0]
}
