package graphs

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/onnxpb"
)

// Model is a finished graph: its ONNX protobuf and the signature a session needs.
type Model struct {
	Proto   *onnxpb.ModelProto
	Inputs  []ValueInfo // graph inputs, in declaration order
	Outputs []ValueInfo // graph outputs, in declaration order

	shapes map[string][]int64 // every value's static shape, for lowering passes
	cgrads []ConvGrad         // the live convolution gradients, for lowering passes
	rgrads []ReluGrad         // the live ReLU gradients, for lowering passes
	ngrads []NormGrad         // the live BatchNorm (training) and LayerNorm gradients, for lowering passes
}

// ConvGrad names the values of one gradient of a convolution Y = Conv(X; W)
// (X [N, C, H, W], W [M, C/group, kH, kW], Y [N, M, OH, OW]) in a model,
// given DY = ∂L/∂Y, which the graph computes with standard ops:
//
//	weight gradient (X set):  DW[m, c, i, j] = Σ_{n,p,q} DY[n, m, p, q]·X_pad[n, g·C/group + c, p·sH + i·dH, q·sW + j·dW]
//	input gradient (W set):   DX = ConvTranspose(DY; W), [N, C, H, W]
//
// (g = m's group; strided Slices and Gemms for the first, a Conv with
// flipped weights or a ConvTranspose for the second). A lowering pass may
// replace Out's producer with a kernel that reads X or W, and DY.
type ConvGrad struct {
	Out    string   // DW or DX
	X      string   // the convolution's input, for a weight gradient; else ""
	W      string   // the convolution's weights, for an input gradient; else ""
	DY     string   // the output gradient
	XShape []int64  // [N, C, H, W]
	Kernel []int64  // [kH, kW]
	Opts   ConvOpts // strides, pads, dilations and group, defaults filled in
}

// ConvGrads returns the convolution gradients the model computes (built by
// the Conv and ConvTranspose gradient rules), in the order they were built.
func (m *Model) ConvGrads() []ConvGrad { return slices.Clone(m.cgrads) }

// ReluGrad names the values of the gradient of one Y = Relu(X) in a model:
// DX = DY·[Y > 0], which the graph computes as Where(Greater(Y, 0), DY, 0).
type ReluGrad struct{ DX, Y, DY string }

// ReluGrads returns the ReLU gradients the model computes, in the order
// they were built.
func (m *Model) ReluGrads() []ReluGrad { return slices.Clone(m.rgrads) }

// NormGrad names the values of the gradient of one normalization in a
// model, given DY = ∂L/∂Y: a training-mode (Y, runningMean', runningVar') =
// BatchNormalization(X, scale, bias, runningMean, runningVar) (X [N, C, …],
// statistics per channel) or a Y = LayerNormalization(X, scale, bias)
// (statistics per row of the axes before its axis). With the statistics μ,
// σ² recomputed from X and x̂ = (X − μ)/σ,
//
//	DX = (scale/σ)·(DY − mean(DY) − x̂·mean(DY·x̂)),  DScale = Σ DY·x̂,  DBias = Σ DY
//
// (means over what is normalised, sums over the rest), which the graph
// computes with reductions and elementwise ops. A lowering pass may replace
// Y's producer with a kernel that also returns μ and σ², and DX's, DScale's
// and DBias's producers with one that reads them.
type NormGrad struct{ Y, DY, DX, DScale, DBias string }

// NormGrads returns the normalization gradients the model computes with
// all three outputs, in the order they were built.
func (m *Model) NormGrads() []NormGrad { return slices.Clone(m.ngrads) }

// ValueShape returns the static shape of the value called name (a graph
// input, an initializer or any node's output), and whether there is one.
// Graph rewrites use it where the protobuf records no intermediate shapes.
func (m *Model) ValueShape(name string) ([]int64, bool) {
	s, ok := m.shapes[name]
	return slices.Clone(s), ok
}

// WithProto returns a model with the same signature and value shapes as m
// over another protobuf: the result of a rewrite that keeps m's inputs and
// outputs.
func (m *Model) WithProto(p *onnxpb.ModelProto) *Model {
	return &Model{Proto: p, Inputs: m.Inputs, Outputs: m.Outputs, shapes: m.shapes, cgrads: m.cgrads, rgrads: m.rgrads, ngrads: m.ngrads}
}

// ValueInfo describes a graph input or output.
type ValueInfo struct {
	Name  string
	DType onnx.DType
	Shape []int64
}

// MarshalJSON writes {"name", "dtype" (float32, int64, bool), "shape"}.
func (v ValueInfo) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name  string  `json:"name"`
		DType string  `json:"dtype"`
		Shape []int64 `json:"shape"`
	}{v.Name, onnx.DTypeName(v.DType), v.Shape})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (v *ValueInfo) UnmarshalJSON(b []byte) error {
	var j struct {
		Name  string  `json:"name"`
		DType string  `json:"dtype"`
		Shape []int64 `json:"shape"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	for _, d := range []onnx.DType{onnx.Float, onnx.Int64, onnx.Bool} {
		if onnx.DTypeName(d) == j.DType {
			*v = ValueInfo{j.Name, d, j.Shape}
			return nil
		}
	}
	return fmt.Errorf("graphs: value %s: unknown dtype %q", j.Name, j.DType)
}

// Bytes serializes the model deterministically (the same graph gives the same bytes).
func (m *Model) Bytes() ([]byte, error) { return onnx.Marshal(m.Proto) }

// InputNames returns the names of the graph inputs.
func (m *Model) InputNames() []string { return names(m.Inputs) }

// OutputNames returns the names of the graph outputs.
func (m *Model) OutputNames() []string { return names(m.Outputs) }

func names(vs []ValueInfo) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name
	}
	return out
}

// Finish returns the model of everything built so far. Nodes that no output
// depends on are dropped; the opset is the lowest that defines every op used
// (onnx.MinOpset). It panics with a *BuildError if no output was declared.
func (b *Builder) Finish() *Model {
	if len(b.outputs) == 0 {
		panic(&BuildError{Err: errorf("graph %q has no outputs: declare them with Builder.Output", b.name)})
	}
	live := b.liveNodes()
	opset := int64(onnx.Opset)
	for _, n := range live {
		opset = max(opset, onnx.MinOpset(n.op))
	}
	g := &onnxpb.GraphProto{Name: &b.name}
	shapes := map[string][]int64{}
	for _, v := range b.inputs {
		g.Input = append(g.Input, valueInfo(v))
		shapes[v.name] = v.shape
	}
	for _, v := range b.inits {
		g.Initializer = append(g.Initializer, v.init)
		shapes[v.name] = v.shape
	}
	for _, n := range live {
		g.Node = append(g.Node, n.protos(opset)...)
		for _, v := range n.outputs {
			shapes[v.name] = v.shape
		}
	}
	for _, v := range b.outputs {
		g.Output = append(g.Output, valueInfo(v))
	}
	producer, domain := onnx.ProducerName, ""
	isLive := map[*Node]bool{}
	for _, n := range live {
		isLive[n] = true
	}
	var cgrads []ConvGrad
	for _, r := range b.cgrads {
		if isLive[r.out.node] {
			cgrads = append(cgrads, r.grad())
		}
	}
	var rgrads []ReluGrad
	for _, r := range b.rgrads {
		if isLive[r[0].node] {
			rgrads = append(rgrads, ReluGrad{DX: r[0].name, Y: r[1].name, DY: r[2].name})
		}
	}
	var ngrads []NormGrad
	for _, r := range b.ngrads {
		if isLive[r.dx.node] && isLive[r.dscale.node] && isLive[r.dbias.node] {
			ngrads = append(ngrads, NormGrad{Y: r.y.name, DY: r.dy.name, DX: r.dx.name, DScale: r.dscale.name, DBias: r.dbias.name})
		}
	}
	m := &Model{Proto: &onnxpb.ModelProto{
		IrVersion:    ptr(onnx.IRVersionFor(opset)),
		ProducerName: &producer,
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: &domain, Version: &opset}},
		Graph:        g,
	}, shapes: shapes, cgrads: cgrads, rgrads: rgrads, ngrads: ngrads}
	for _, v := range b.inputs {
		m.Inputs = append(m.Inputs, ValueInfo{v.name, v.dtype, v.Shape()})
	}
	for _, v := range b.outputs {
		m.Outputs = append(m.Outputs, ValueInfo{v.name, v.dtype, v.Shape()})
	}
	return m
}

// liveNodes returns, in creation order, the nodes some output depends on.
func (b *Builder) liveNodes() []*Node {
	live := map[*Node]bool{}
	var visit func(v *Value)
	visit = func(v *Value) {
		if v == nil || v.node == nil || live[v.node] {
			return
		}
		live[v.node] = true
		for _, in := range v.node.inputs {
			visit(in)
		}
	}
	for _, v := range b.outputs {
		visit(v)
	}
	out := make([]*Node, 0, len(live))
	for _, n := range b.nodes {
		if live[n] {
			out = append(out, n)
		}
	}
	return out
}

// protos returns the node as ONNX NodeProtos for the given opset, with
// attributes sorted by name. It is one NodeProto except where the op's form
// changed after opset 17: from opset 18, ReduceMean and ReduceMax take their
// axes as an input instead of an attribute, so a Constant node holding the
// axes is emitted before them.
func (n *Node) protos(opset int64) []*onnxpb.NodeProto {
	np := &onnxpb.NodeProto{Name: ptr(n.name), OpType: ptr(n.op)}
	for _, v := range n.inputs {
		if v == nil {
			np.Input = append(np.Input, "")
		} else {
			np.Input = append(np.Input, v.name)
		}
	}
	for _, v := range n.outputs {
		np.Output = append(np.Output, v.name)
	}
	keys := make([]string, 0, len(n.attrs))
	for k := range n.attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var axes *onnxpb.AttributeProto
	for _, k := range keys {
		a := n.attrs[k]
		if k == "axes" && opset >= 18 && (n.op == "ReduceMean" || n.op == "ReduceMax") {
			axes = a
			continue
		}
		np.Attribute = append(np.Attribute, a)
	}
	if axes == nil {
		return []*onnxpb.NodeProto{np}
	}
	name := n.name + "/axes"
	np.Input = append(np.Input, name)
	c := &onnxpb.NodeProto{Name: &name, OpType: ptr("Constant"), Output: []string{name},
		Attribute: []*onnxpb.AttributeProto{attrTensor("value", int64Tensor(name, []int64{int64(len(axes.Ints))}, axes.Ints))}}
	return []*onnxpb.NodeProto{c, np}
}

func valueInfo(v *Value) *onnxpb.ValueInfoProto {
	dims := make([]*onnxpb.TensorShapeProto_Dimension, len(v.shape))
	for i, d := range v.shape {
		dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
	}
	elem := int32(v.dtype)
	return &onnxpb.ValueInfoProto{
		Name: ptr(v.name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: &elem,
			Shape:    &onnxpb.TensorShapeProto{Dim: dims},
		}}},
	}
}

// floatTensor returns a TensorProto holding data (raw little-endian bytes).
func floatTensor(name string, shape []int64, data []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(data))
	for i, f := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return &onnxpb.TensorProto{Name: &name, Dims: slices.Clone(shape), DataType: ptr(int32(onnx.Float)), RawData: raw}
}

// int64Tensor returns a TensorProto holding data (raw little-endian bytes).
func int64Tensor(name string, shape []int64, data []int64) *onnxpb.TensorProto {
	raw := make([]byte, 8*len(data))
	for i, x := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return &onnxpb.TensorProto{Name: &name, Dims: slices.Clone(shape), DataType: ptr(int32(onnx.Int64)), RawData: raw}
}

func ptr[T any](v T) *T { return &v }
