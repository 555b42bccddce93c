package lower

import (
	"slices"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx/onnxpb"
	"github.com/taet-ml/taet/onnx/ort/onednn"
)

// ConvGrads returns m with the producer of every convolution gradient m
// records (graphs.Model.ConvGrads) that use accepts replaced by one node of
// oneDNN's backward convolutions,
//
//	DW = ai.taet.onednn.ConvWeightGrad(X, DY; strides, pads, dilations, kernel_shape, group)
//	DX = ai.taet.onednn.ConvInputGrad(DY, W; strides, pads, dilations, kernel_shape, group, input_shape)
//
// and the standard subgraphs that computed them before (for a weight
// gradient a Pad, two Transposes, k²·group strided Slices and Gemms and a
// Concat; for an input gradient the weights' flip and transposes and a
// Conv, or a ConvTranspose) dropped where nothing else reads them; and how
// many it replaced. m is not modified; the result shares its initializers.
// Sessions that run the result need the onednn kernels (ort.OneDNN).
func ConvGrads(m *graphs.Model, use func(graphs.ConvGrad) bool) (*graphs.Model, int, error) {
	kernels := map[string]*onnxpb.NodeProto{}
	for _, g := range m.ConvGrads() {
		if !use(g) {
			continue
		}
		o := g.Opts
		attrs := []*onnxpb.AttributeProto{ints("dilations", o.Dilations...), intAttr("group", o.Group),
			ints("kernel_shape", g.Kernel...), ints("pads", o.Pads...), ints("strides", o.Strides...)}
		if g.X != "" {
			kernels[g.Out] = node(onednn.OpConvWeightGrad, onednn.Domain, g.Out, []string{g.X, g.DY}, attrs)
		} else {
			kernels[g.Out] = node(onednn.OpConvInputGrad, onednn.Domain, g.Out, []string{g.DY, g.W}, append(attrs, ints("input_shape", g.XShape...)))
		}
	}
	return replace(m, kernels)
}

// ReluGrads returns m with the producer of every ReLU gradient m records
// (graphs.Model.ReluGrads) replaced by one pass of oneDNN's backward ReLU,
//
//	DX = ai.taet.onednn.ReluGrad(Y, DY) = DY·[Y > 0]
//
// and the Greater and Where that computed it dropped; and how many it
// replaced, as ConvGrads.
func ReluGrads(m *graphs.Model) (*graphs.Model, int, error) {
	kernels := map[string]*onnxpb.NodeProto{}
	for _, g := range m.ReluGrads() {
		kernels[g.DX] = node(onednn.OpReluGrad, onednn.Domain, g.DX, []string{g.Y, g.DY}, nil)
	}
	return replace(m, kernels)
}

// replace returns m with the producer of each value in kernels replaced by
// its node (named after the producer), the nodes no output needs any more
// dropped, and the onednn domain imported; and how many it replaced.
func replace(m *graphs.Model, kernels map[string]*onnxpb.NodeProto) (*graphs.Model, int, error) {
	src := m.Proto.GetGraph()
	var nodes []*onnxpb.NodeProto
	count := 0
	for _, n := range src.GetNode() {
		k, ok := kernels[single(n.GetOutput())]
		if !ok || n.GetDomain() == onednn.Domain { // not one, or replaced already
			nodes = append(nodes, n)
			continue
		}
		k.Name = ptr(n.GetName() + "/onednn")
		nodes = append(nodes, k)
		count++
	}
	if count == 0 {
		return m, 0, nil
	}
	g := &onnxpb.GraphProto{
		Name: src.Name, Input: src.Input, Output: src.Output, Initializer: src.Initializer,
		ValueInfo: src.ValueInfo, DocString: src.DocString, Node: live(nodes, src.GetOutput()),
	}
	p := &onnxpb.ModelProto{
		IrVersion: m.Proto.IrVersion, ProducerName: m.Proto.ProducerName, ProducerVersion: m.Proto.ProducerVersion,
		OpsetImport: m.Proto.OpsetImport, MetadataProps: m.Proto.MetadataProps, Graph: g,
	}
	if !slices.ContainsFunc(p.OpsetImport, func(o *onnxpb.OperatorSetIdProto) bool { return o.GetDomain() == onednn.Domain }) {
		p = withDomain(p, onednn.Domain)
	}
	return m.WithProto(p), count, nil
}

// single returns the only element of outs, or "".
func single(outs []string) string {
	if len(outs) != 1 {
		return ""
	}
	return outs[0]
}

// live returns the nodes (in topological order) that some graph output
// depends on, in their order.
func live(nodes []*onnxpb.NodeProto, outputs []*onnxpb.ValueInfoProto) []*onnxpb.NodeProto {
	needed := map[string]bool{}
	for _, o := range outputs {
		needed[o.GetName()] = true
	}
	keep := make([]bool, len(nodes))
	for i := len(nodes) - 1; i >= 0; i-- {
		for _, out := range nodes[i].GetOutput() {
			keep[i] = keep[i] || needed[out]
		}
		if keep[i] {
			for _, in := range nodes[i].GetInput() {
				needed[in] = true
			}
		}
	}
	var out []*onnxpb.NodeProto
	for i, n := range nodes {
		if keep[i] {
			out = append(out, n)
		}
	}
	return out
}
