package lower

import (
	"slices"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/onnxpb"
	"github.com/taet-ml/taet/onnx/ort/onednn"
	"google.golang.org/protobuf/proto"
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

// FoldScales returns m with the per-channel scaling of each oneDNN input
// gradient's output gradient moved onto its weights where both are
// constants, as in the attacks' graphs, where an inference-mode BatchNorm
// (whose gradient is that scaling) follows every convolution:
//
//	DX = ConvInputGrad(Mul(G, S), W)  →  DX = ConvInputGrad(G, Mul(W, Reshape(S, [M, 1, 1, 1])))
//
// with S [1, M, 1, 1] computed from constants and the Mul read by nothing
// else. The runtime folds W·S once, and the pass over G goes. It returns
// how many it moved; m is not modified.
func FoldScales(m *graphs.Model) (*graphs.Model, int, error) {
	src := m.Proto.GetGraph()
	consts := constants(src)
	producer, readers := map[string]*onnxpb.NodeProto{}, map[string]int{}
	for _, n := range src.GetNode() {
		for _, out := range n.GetOutput() {
			producer[out] = n
		}
		for _, in := range n.GetInput() {
			readers[in]++
		}
	}
	for _, o := range src.GetOutput() {
		readers[o.GetName()]++
	}
	var nodes []*onnxpb.NodeProto
	count := 0
	for _, n := range src.GetNode() {
		in := n.GetInput()
		if n.GetDomain() != onednn.Domain || n.GetOpType() != onednn.OpConvInputGrad || !consts[in[1]] || readers[in[0]] != 1 {
			nodes = append(nodes, n)
			continue
		}
		mul := producer[in[0]]
		g, s, ok := scaled(m, mul, consts)
		w, _ := m.ValueShape(in[1])
		if !ok || len(w) != 4 {
			nodes = append(nodes, n)
			continue
		}
		name := n.GetName() + "/scaled"
		shape := name + "/shape"
		folded := proto.Clone(n).(*onnxpb.NodeProto)
		folded.Input = []string{g, name + "/w"}
		nodes = append(nodes,
			&onnxpb.NodeProto{Name: ptr(shape), OpType: ptr("Constant"), Domain: ptr(""), Output: []string{shape},
				Attribute: []*onnxpb.AttributeProto{{Name: ptr("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(),
					T: &onnxpb.TensorProto{Name: ptr(shape), Dims: []int64{4}, DataType: ptr(int32(onnx.Int64)), Int64Data: []int64{w[0], 1, 1, 1}}}}},
			node("Reshape", "", name+"/s", []string{s, shape}, nil),
			node("Mul", "", name+"/w", []string{in[1], name + "/s"}, nil),
			folded)
		count++
	}
	if count == 0 {
		return m, 0, nil
	}
	return withNodes(m, live(nodes, m.Proto.GetGraph().GetOutput()), onednn.Domain), count, nil
}

// scaled returns the operands G and S of mul = Mul(G, S) (either order)
// where S [1, M, 1, 1] is computed from constants, and whether mul is one.
func scaled(m *graphs.Model, mul *onnxpb.NodeProto, consts map[string]bool) (g, s string, ok bool) {
	if mul == nil || mul.GetOpType() != "Mul" || mul.GetDomain() != "" || len(mul.GetInput()) != 2 {
		return "", "", false
	}
	for i, in := range mul.GetInput() {
		other := mul.GetInput()[1-i]
		shape, known := m.ValueShape(in)
		if consts[in] && !consts[other] && known && len(shape) == 4 && shape[0] == 1 && shape[2] == 1 && shape[3] == 1 {
			return other, in, true
		}
	}
	return "", "", false
}

// Convs returns m with every eligible forward convolution on oneDNN's
// forward primitive,
//
//	Y = Conv(X, W)  →  Y = ai.taet.onednn.Conv(X, W; strides, pads, dilations, kernel_shape, group)
//
// and how many it replaced. A convolution is eligible when it is 2-D (X and
// W of rank 4), has no bias, uses explicit pads (no auto_pad) and its
// weights are not computed from constants alone (the runtime pre-packs
// those and fuses what follows, see constants). m is not modified.
func Convs(m *graphs.Model) (*graphs.Model, int, error) {
	consts := constants(m.Proto.GetGraph())
	kernels := map[string]*onnxpb.NodeProto{}
	for _, n := range m.Proto.GetGraph().GetNode() {
		in := n.GetInput()
		if n.GetOpType() != "Conv" || n.GetDomain() != "" || len(in) != 2 || len(n.GetOutput()) != 1 || consts[in[1]] {
			continue
		}
		x, okX := m.ValueShape(in[0])
		w, okW := m.ValueShape(in[1])
		if !okX || !okW || len(x) != 4 || len(w) != 4 {
			continue
		}
		attrs := []*onnxpb.AttributeProto{ints("dilations", 1, 1), intAttr("group", 1), ints("kernel_shape", w[2], w[3]),
			ints("pads", 0, 0, 0, 0), ints("strides", 1, 1)}
		explicit := true
		for _, a := range n.GetAttribute() {
			switch a.GetName() {
			case "dilations", "group", "kernel_shape", "pads", "strides":
				i := slices.IndexFunc(attrs, func(b *onnxpb.AttributeProto) bool { return b.GetName() == a.GetName() })
				attrs[i] = a
			case "auto_pad":
				explicit = explicit && string(a.GetS()) == "NOTSET"
			}
		}
		if explicit {
			kernels[n.GetOutput()[0]] = node(onednn.OpConv, onednn.Domain, n.GetOutput()[0], in, attrs)
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

// Norms returns m with every training-mode BatchNormalization and every
// LayerNormalization whose gradient m records (graphs.Model.NormGrads),
// and that gradient, on oneDNN's batch and layer normalization:
//
//	Y, RM', RV' = BatchNormalization(X, scale, bias, RM, RV; training_mode=1)
//	  → Y, RM', RV', μ, σ² = ai.taet.onednn.BatchNormTraining(X, scale, bias, RM, RV; epsilon, momentum)
//	DX, DScale, DBias = ai.taet.onednn.BatchNormTrainingGrad(X, DY, scale, bias, μ, σ²; epsilon)
//
//	Y = LayerNormalization(X, scale, bias; axis)
//	  → Y, μ, σ² = ai.taet.onednn.LayerNormTraining(X, scale, bias; axis, epsilon)
//	DX, DScale, DBias = ai.taet.onednn.LayerNormTrainingGrad(X, DY, scale, bias, μ, σ²; axis, epsilon)
//
// the gradient reading the statistics the forward kernel returns instead of
// recomputing them, and the reductions and elementwise ops that computed it
// dropped; and how many kernels it put in (two per layer).
func Norms(m *graphs.Model) (*graphs.Model, int, error) {
	forward := map[string]*onnxpb.NodeProto{} // the normalizations by Y
	for _, n := range m.Proto.GetGraph().GetNode() {
		batch := n.GetOpType() == "BatchNormalization" && len(n.GetOutput()) == 3 && attrInt(n, "training_mode", 0) == 1
		layer := n.GetOpType() == "LayerNormalization" && len(n.GetOutput()) == 1 && len(n.GetInput()) == 3
		if n.GetDomain() == "" && (batch || layer) {
			forward[n.GetOutput()[0]] = n
		}
	}
	kernels := map[string]*onnxpb.NodeProto{}
	for _, g := range m.NormGrads() {
		f, ok := forward[g.Y]
		if !ok {
			continue
		}
		eps := floatAttr("epsilon", attrFloat(f, "epsilon", 1e-5))
		mean, variance := g.Y+"/onednn/mean", g.Y+"/onednn/var"
		in, outs := f.GetInput(), append(slices.Clone(f.GetOutput()), mean, variance)
		gradIn, gradOut := []string{in[0], g.DY, in[1], in[2], mean, variance}, []string{g.DX, g.DScale, g.DBias}
		var grad *onnxpb.NodeProto
		if f.GetOpType() == "BatchNormalization" {
			kernels[g.Y] = nodeOuts(onednn.OpBatchNormTraining, in, outs, eps, floatAttr("momentum", attrFloat(f, "momentum", 0.9)))
			grad = nodeOuts(onednn.OpBatchNormTrainingGrad, gradIn, gradOut, eps)
		} else {
			axis := intAttr("axis", attrInt(f, "axis", -1)) // the builder writes it ≥ 0
			kernels[g.Y] = nodeOuts(onednn.OpLayerNormTraining, in, outs, axis, eps)
			grad = nodeOuts(onednn.OpLayerNormTrainingGrad, gradIn, gradOut, axis, eps)
		}
		kernels[g.DX], kernels[g.DScale], kernels[g.DBias] = grad, grad, grad
	}
	return replace(m, kernels)
}

// nodeOuts returns a node of the onednn domain with several outputs.
func nodeOuts(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: &op, Domain: ptr(onednn.Domain), Input: in, Output: out, Attribute: attrs}
}

// replace returns m with the producer of each value in kernels replaced by
// its node (named after the producer), the nodes no output needs any more
// dropped, and the onednn domain imported; and how many nodes it put in. A
// node keyed by several values goes in once, where the first of their
// producers was: its inputs must be computed before that.
func replace(m *graphs.Model, kernels map[string]*onnxpb.NodeProto) (*graphs.Model, int, error) {
	src := m.Proto.GetGraph()
	var nodes []*onnxpb.NodeProto
	placed := map[*onnxpb.NodeProto]bool{}
	for _, n := range src.GetNode() {
		i := slices.IndexFunc(n.GetOutput(), func(out string) bool { return kernels[out] != nil })
		if i < 0 || n.GetDomain() == onednn.Domain { // not one, or replaced already
			nodes = append(nodes, n)
			continue
		}
		if k := kernels[n.GetOutput()[i]]; !placed[k] {
			k.Name = ptr(n.GetName() + "/onednn")
			nodes = append(nodes, k)
			placed[k] = true
		}
	}
	if len(placed) == 0 {
		return m, 0, nil
	}
	return withNodes(m, live(nodes, src.GetOutput()), onednn.Domain), len(placed), nil
}

// attrInt returns n's integer attribute name, or def where n has none.
func attrInt(n *onnxpb.NodeProto, name string, def int64) int64 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetI()
		}
	}
	return def
}

// attrFloat returns n's float attribute name, or def where n has none.
func attrFloat(n *onnxpb.NodeProto, name string, def float32) float32 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetF()
		}
	}
	return def
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
