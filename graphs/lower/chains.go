package lower

import (
	"slices"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/onnxpb"
	"github.com/taet-ml/taet/onnx/ort/onednn"
	"google.golang.org/protobuf/proto"
)

// BlockedChains returns m with its chains of convolutions, normalizations,
// ReLUs and residual Adds, and of their gradients, kept in the runtime's
// blocked layout (nChw{block}c) from one layer to the next, and how many
// nodes it wrote blocked. It runs after ConvGrads,
// FoldScales, ReluGrads, Convs and Norms.
//
// oneDNN's kernels prefer the blocked layout, and in plain tensors each
// reorders its inputs into it and its outputs back, for every layer. With
// the block attribute they read and write the blocked tensors themselves
// (ai.taet.onednn.Conv, ConvWeightGrad, ConvInputGrad, BatchNormTraining,
// BatchNormTrainingGrad: every 4-D tensor whose channels the block divides;
// weights, statistics and the rest stay plain), and ReLU, its gradient and
// the Add of two tensors of one shape are elementwise, so they take any
// layout:
//
//	Yb = ai.taet.onednn.Conv(Xb, W; block)      Yb, … = ai.taet.onednn.BatchNormTraining(Xb, …; block)
//	Yb = Relu(Xb)                               DXb = ai.taet.onednn.ReluGrad(Yb, DYb)
//	Sb = Add(Ab, Bb)                            DXb = ai.taet.onednn.ConvInputGrad(DYb, W; block)
//
// and so on. The attacks' graphs have constant weights, whose convolutions
// the runtime blocks itself, fusing the BatchNorm, the residual Add and the
// ReLU that follow, but it keeps the blocked values to itself: each of their
// readers in the gradient got a ReorderOutput. Those are written blocked
// here instead,
//
//	Y = Relu(Add(BatchNormalization(Conv(X, W)), S))
//	  → Yb = nchwc.Conv(Xb, Wb, B', Sb; activation=Relu),  Wb = OIHWBiBo(W·s),  B' = β − μ·s,  s = γ/√(σ² + ε)
//
// (the BatchNorm folded into the weights from constants, which the runtime
// computes once; the Add and the Relu where they follow, each the only
// reader of what precedes it; 2-D, ungrouped convolutions of explicit pads
// whose channel counts the block divides).
//
// A blocked value that a standard op reads is reordered back to the plain
// layout once (ReorderOutput), and a plain value that a blocked op reads is
// reordered into it once (ReorderInput). m is not modified; the result
// shares its initializers.
func BlockedChains(m *graphs.Model, block int64) (*graphs.Model, int, error) {
	src := m.Proto.GetGraph()
	c := &chains{
		rewriter: rewriter{m: m, block: block, blocked: map[string]string{}, consts: map[string]bool{}},
		constant: constants(src), readers: map[string][]*onnxpb.NodeProto{}, outputs: map[string]bool{},
	}
	for _, n := range src.GetNode() {
		for _, in := range n.GetInput() {
			c.readers[in] = append(c.readers[in], n)
		}
	}
	for _, o := range src.GetOutput() {
		c.outputs[o.GetName()] = true
	}
	layers := c.match(src.GetNode())
	for _, n := range src.GetNode() {
		if l, ok := layers[n]; ok {
			if l != nil { // n is the layer's last node
				c.fuse(l)
				c.count++
			}
			continue
		}
		if g := c.blockedOp(n); g != nil {
			c.nodes = append(c.nodes, g)
		}
	}
	if c.count == 0 {
		return m, 0, nil
	}
	return withNodes(m, live(c.nodes, src.GetOutput()), Domain), c.count, nil
}

// chains carries BlockedChains' state: the Conv rewriter's, and what it
// knows of the graph.
type chains struct {
	rewriter
	constant map[string]bool                // values computed from constants alone
	readers  map[string][]*onnxpb.NodeProto // value → the nodes that read it
	outputs  map[string]bool                // the graph's outputs
}

// layer is one convolution with what follows it in the forward graph: a
// BatchNorm, a residual Add (of sum) and a Relu, each optional; out is the
// last one's output.
type layer struct {
	conv, norm, add, relu *onnxpb.NodeProto
	sum, out              string
}

// match returns the layers of nodes, keyed by every node they take in: the
// last with its layer, the others with nil. A residual Add goes to the
// first of its two convolutions; the second's output is its sum.
func (c *chains) match(nodes []*onnxpb.NodeProto) map[*onnxpb.NodeProto]*layer {
	layers := map[*onnxpb.NodeProto]*layer{}
	for _, n := range nodes {
		if !c.eligibleConv(n) {
			continue
		}
		l := &layer{conv: n, out: n.GetOutput()[0]}
		if r := c.onlyReader(l.out); r != nil && c.inferenceNorm(r) {
			l.norm, l.out = r, r.GetOutput()[0]
		}
		if r := c.onlyReader(l.out); r != nil && r.GetOpType() == "Add" && r.GetDomain() == "" && len(r.GetInput()) == 2 && !claimed(layers, r) {
			other := r.GetInput()[0]
			if other == l.out {
				other = r.GetInput()[1]
			}
			a, okA := c.m.ValueShape(l.out)
			b, okB := c.m.ValueShape(other)
			if other != l.out && okA && okB && slices.Equal(a, b) {
				l.add, l.sum, l.out = r, other, r.GetOutput()[0]
			}
		}
		if r := c.onlyReader(l.out); r != nil && r.GetOpType() == "Relu" && r.GetDomain() == "" {
			l.relu, l.out = r, r.GetOutput()[0]
		}
		last := n
		for _, p := range []*onnxpb.NodeProto{l.norm, l.add, l.relu} {
			if p != nil {
				layers[last], last = nil, p
			}
		}
		layers[last] = l
	}
	return layers
}

// claimed reports whether a layer takes n in already.
func claimed(layers map[*onnxpb.NodeProto]*layer, n *onnxpb.NodeProto) bool {
	_, ok := layers[n]
	return ok
}

// onlyReader returns the one node that reads v, or nil where v has several
// readers or is a graph output.
func (c *chains) onlyReader(v string) *onnxpb.NodeProto {
	if r := c.readers[v]; len(r) == 1 && !c.outputs[v] {
		return r[0]
	}
	return nil
}

// eligibleConv reports whether n is a Conv BlockedChains blocks: one the
// blocked Conv runs, of constant weights and bias and a 4-D input.
func (c *chains) eligibleConv(n *onnxpb.NodeProto) bool {
	in := n.GetInput()
	if !blockable(c.m, n, c.block) || len(n.GetOutput()) != 1 || !c.constant[in[1]] || len(in) == 3 && in[2] != "" && !c.constant[in[2]] {
		return false
	}
	x, ok := c.m.ValueShape(in[0])
	return ok && len(x) == 4
}

// inferenceNorm reports whether n is an inference-mode BatchNormalization
// of constant parameters.
func (c *chains) inferenceNorm(n *onnxpb.NodeProto) bool {
	in := n.GetInput()
	return n.GetOpType() == "BatchNormalization" && n.GetDomain() == "" && len(in) == 5 && len(n.GetOutput()) == 1 &&
		attrInt(n, "training_mode", 0) == 0 && c.constant[in[1]] && c.constant[in[2]] && c.constant[in[3]] && c.constant[in[4]]
}

// fuse appends layer l as one blocked Conv, its BatchNorm folded in, and the
// reorder of its output back to the plain layout (dropped later where no
// one reads it).
func (c *chains) fuse(l *layer) {
	in := l.conv.GetInput()
	ws, _ := c.m.ValueShape(in[1])
	name := l.conv.GetName() + "/nchwc"
	w, bias := in[1], ""
	if len(in) == 3 {
		bias = in[2]
	}
	if l.norm != nil {
		w, bias = c.foldNorm(l.norm, w, bias, ws, name)
	}
	inputs := []string{c.blockedInput(in[0]), c.blockedWeights(w, ws, name), bias}
	if l.add != nil {
		inputs = append(inputs, c.blockedInput(l.sum))
	}
	for len(inputs) > 2 && inputs[len(inputs)-1] == "" {
		inputs = inputs[:len(inputs)-1]
	}
	attrs := convAttrs(l.conv.GetAttribute(), ws[2], ws[3])
	if l.relu != nil {
		attrs = append(attrs, &onnxpb.AttributeProto{Name: ptr("activation"), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte("Relu")})
	}
	conv := node("Conv", Domain, l.out+"/nchwc", inputs, attrs)
	conv.Name = ptr(name)
	c.nodes = append(c.nodes, conv)
	c.unblock(l.out, ws[0])
}

// foldNorm appends the BatchNorm n folded into the convolution before it,
// weights w [M, C, kH, kW] and bias (or ""), and returns the folded ones:
// w·s and β + (bias − μ)·s with s = γ/√(σ² + ε).
func (c *chains) foldNorm(n *onnxpb.NodeProto, w, bias string, ws []int64, name string) (string, string) {
	in := n.GetInput()
	gamma, beta, mean, variance := in[1], in[2], in[3], in[4]
	eps := name + "/eps"
	c.nodes = append(c.nodes,
		&onnxpb.NodeProto{Name: ptr(eps), OpType: ptr("Constant"), Domain: ptr(""), Output: []string{eps},
			Attribute: []*onnxpb.AttributeProto{{Name: ptr("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(),
				T: &onnxpb.TensorProto{Name: ptr(eps), DataType: ptr(int32(onnx.Float)), FloatData: []float32{attrFloat(n, "epsilon", 1e-5)}}}}},
		node("Add", "", name+"/var_eps", []string{variance, eps}, nil),
		node("Sqrt", "", name+"/std", []string{name + "/var_eps"}, nil),
		node("Div", "", name+"/s", []string{gamma, name + "/std"}, nil),
		node("Reshape", "", name+"/s4", []string{name + "/s", c.shapeConst(ws[0], 1, 1, 1)}, nil),
		node("Mul", "", name+"/w_folded", []string{w, name + "/s4"}, nil),
	)
	centred := name + "/centred"
	if bias != "" {
		c.nodes = append(c.nodes, node("Sub", "", centred, []string{bias, mean}, nil))
	} else {
		c.nodes = append(c.nodes, node("Neg", "", centred, []string{mean}, nil))
	}
	c.nodes = append(c.nodes,
		node("Mul", "", name+"/shift", []string{centred, name + "/s"}, nil),
		node("Add", "", name+"/b_folded", []string{beta, name + "/shift"}, nil))
	return name + "/w_folded", name + "/b_folded"
}

// blockedOp returns the node to append for n: n itself where it stays
// plain; nil where its blocked form (see BlockedChains) and the reorders
// that needs are appended already; or the blocked form of an op whose
// outputs stay plain (a weight gradient, the stem's input gradient).
func (c *chains) blockedOp(n *onnxpb.NodeProto) *onnxpb.NodeProto {
	in, out := n.GetInput(), n.GetOutput()
	if len(in) == 0 || len(out) == 0 {
		return n
	}
	var k *onnxpb.NodeProto // the blocked form, its first output blocked
	switch op := n.GetOpType(); {
	case n.GetDomain() == "" && op == "Relu" && len(in) == 1:
		if xb, ok := c.blocked[in[0]]; ok {
			k = c.retyped(n, xb)
		}
	case n.GetDomain() == "" && op == "Add" && len(in) == 2:
		a, okA := c.blocked[in[0]]
		b, okB := c.blocked[in[1]]
		sa, _ := c.m.ValueShape(in[0])
		sb, _ := c.m.ValueShape(in[1])
		if okA && okB && slices.Equal(sa, sb) {
			k = c.retyped(n, a, b)
		}
	case n.GetDomain() != onednn.Domain:
	case op == onednn.OpReluGrad:
		if yb, ok := c.blocked[in[0]]; ok {
			k = c.retyped(n, yb, c.blockedInput(in[1]))
		}
	case op == onednn.OpConv:
		if c.divides(out[0]) {
			k = c.withBlock(c.retyped(n, c.maybeBlocked(in[0]), in[1]))
		}
	case op == onednn.OpConvWeightGrad:
		if c.divides(in[1]) {
			c.count++
			return c.withBlock(c.plainOut(n, c.maybeBlocked(in[0]), c.blockedInput(in[1])))
		}
	case op == onednn.OpConvInputGrad:
		if !c.divides(in[0]) {
			break
		}
		if !c.divides(out[0]) { // dx stays plain
			c.count++
			return c.withBlock(c.plainOut(n, c.blockedInput(in[0]), in[1]))
		}
		k = c.withBlock(c.retyped(n, c.blockedInput(in[0]), in[1]))
	case op == onednn.OpBatchNormTraining:
		if c.divides(in[0]) {
			k = c.withBlock(c.retyped(n, append([]string{c.blockedInput(in[0])}, in[1:]...)...))
		}
	case op == onednn.OpBatchNormTrainingGrad:
		if c.divides(in[0]) {
			k = c.withBlock(c.retyped(n, append([]string{c.blockedInput(in[0]), c.blockedInput(in[1])}, in[2:]...)...))
		}
	}
	if k == nil {
		return n
	}
	c.nodes = append(c.nodes, k)
	c.count++
	shape, _ := c.m.ValueShape(out[0])
	c.unblock(out[0], shape[1])
	return nil
}

// divides reports whether v is 4-D with channels the block divides.
func (c *chains) divides(v string) bool {
	s, ok := c.m.ValueShape(v)
	return ok && len(s) == 4 && s[1]%c.block == 0
}

// maybeBlocked returns v's blocked form where the block divides its
// channels, else v.
func (c *chains) maybeBlocked(v string) string {
	if c.divides(v) {
		return c.blockedInput(v)
	}
	return v
}

// retyped returns a copy of n reading ins and writing the blocked form of
// its first output.
func (c *chains) retyped(n *onnxpb.NodeProto, ins ...string) *onnxpb.NodeProto {
	k := c.plainOut(n, ins...)
	k.Output[0] += "/nchwc"
	return k
}

// plainOut returns a copy of n reading ins.
func (c *chains) plainOut(n *onnxpb.NodeProto, ins ...string) *onnxpb.NodeProto {
	k := proto.Clone(n).(*onnxpb.NodeProto)
	k.Input = ins
	return k
}

// withBlock returns k with the block attribute of the onednn kernels.
func (c *chains) withBlock(k *onnxpb.NodeProto) *onnxpb.NodeProto {
	k.Attribute = append(k.Attribute, intAttr("block", c.block))
	return k
}

// unblock records v's blocked form, v/nchwc, and appends its reorder back
// to v, of channels channels.
func (c *chains) unblock(v string, channels int64) {
	c.blocked[v] = v + "/nchwc"
	r := node("ReorderOutput", Domain, v, []string{v + "/nchwc"}, []*onnxpb.AttributeProto{intAttr("channels", channels)})
	r.Name = ptr(v + "/plain")
	c.nodes = append(c.nodes, r)
}
