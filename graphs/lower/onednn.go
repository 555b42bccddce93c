package lower

import (
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx/onnxpb"
	"github.com/taet-ml/taet/onnx/ort/onednn"
)

// WeightGrads returns m with the producer of every convolution weight
// gradient m records (graphs.Model.ConvWeightGrads) replaced by one node of
// oneDNN's backward-weights convolution,
//
//	DW = ai.taet.onednn.ConvWeightGrad(X, DY; strides, pads, dilations, kernel_shape, group)
//
// and the standard subgraph that computed it before (a Pad, two
// Transposes, k²·group strided Slices and Gemms, a Concat) dropped where
// nothing else reads it; and how many it replaced. m is not modified; the
// result shares its initializers. Sessions that run the result need the
// onednn kernels (ort.OneDNN).
func WeightGrads(m *graphs.Model) (*graphs.Model, int, error) {
	byDW := map[string]graphs.ConvWeightGrad{}
	for _, w := range m.ConvWeightGrads() {
		byDW[w.DW] = w
	}
	src := m.Proto.GetGraph()
	var nodes []*onnxpb.NodeProto
	count := 0
	for _, n := range src.GetNode() {
		w, ok := byDW[single(n.GetOutput())]
		if !ok || n.GetDomain() == onednn.Domain { // not one, or replaced already
			nodes = append(nodes, n)
			continue
		}
		o := w.Opts
		wg := node(onednn.OpConvWeightGrad, onednn.Domain, w.DW, []string{w.X, w.DY}, []*onnxpb.AttributeProto{
			ints("dilations", o.Dilations...), intAttr("group", o.Group), ints("kernel_shape", w.Kernel...),
			ints("pads", o.Pads...), ints("strides", o.Strides...)})
		wg.Name = ptr(n.GetName() + "/onednn")
		nodes = append(nodes, wg)
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
	return m.WithProto(withDomain(p, onednn.Domain)), count, nil
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
