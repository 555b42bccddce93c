package export

import (
	"fmt"
	"slices"

	"github.com/taet-ml/taet/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// probeBatches are the static batch sizes ONNX builds the eval graph at:
// the first is the graph exported, the second tells which constants depend
// on the batch. Neither is 1, where broadcasting could hide a dependence.
var probeBatches = [2]int64{2, 3}

// BatchDim is the dim_param of the dynamic batch dimension.
const BatchDim = "N"

// batchSizeName names the value holding the run-time batch size, [1] int64,
// when an Expand needs it.
const batchSizeName = "export/batch_size"

// makeBatchDynamic rewrites g, built at batch probeBatches[0], so that it
// runs at any batch: probe is the same graph built at probeBatches[1] (see
// the package documentation, "Dynamic batch").
func makeBatchDynamic(g, probe *onnxpb.GraphProto) error {
	if len(g.Input) == 0 {
		return fmt.Errorf("cannot make the batch dynamic: the graph has no inputs")
	}
	if len(g.Node) != len(probe.Node) {
		return fmt.Errorf("cannot make the batch dynamic: the graph has %d nodes at batch %d and %d at batch %d",
			len(g.Node), probeBatches[0], len(probe.Node), probeBatches[1])
	}
	uses := map[string][]*onnxpb.NodeProto{} // value → the nodes reading it, once per input slot
	for _, n := range g.Node {
		for _, in := range n.Input {
			uses[in] = append(uses[in], n)
		}
	}
	nodes := make([]*onnxpb.NodeProto, 0, len(g.Node)+1)
	needBatch := false
	for i, n := range g.Node {
		p := probe.Node[i]
		if proto.Equal(n, p) {
			nodes = append(nodes, n)
			continue
		}
		if n.GetOpType() != "Constant" || p.GetOpType() != "Constant" || n.GetName() != p.GetName() {
			return fmt.Errorf("cannot make the batch dynamic: node %s (%s) changes with the batch size", n.GetName(), n.GetOpType())
		}
		va, okA := int64s(attr(n, "value").GetT())
		vb, okB := int64s(attr(p, "value").GetT())
		at := -1
		if okA && okB && len(va) == len(vb) {
			for j := range va {
				if va[j] != vb[j] {
					if at >= 0 {
						at = -1
						break
					}
					at = j
				}
			}
		}
		out := n.Output[0]
		if at < 0 {
			return fmt.Errorf("cannot make the batch dynamic: constant %s depends on the batch size, and not in a single entry of an int64 shape", out)
		}
		switch op := onlyShapeUse(uses[out], out); op {
		case "Reshape":
			if slices.Contains(va, -1) {
				return fmt.Errorf("cannot make the batch dynamic: Reshape target %s already infers a dimension", out)
			}
			va[at] = -1
			value := attr(n, "value")
			value.T = int64Tensor(value.GetT().GetName(), va)
			nodes = append(nodes, n)
		case "Expand":
			if va[at] != probeBatches[0] || vb[at] != probeBatches[1] {
				return fmt.Errorf("cannot make the batch dynamic: Expand shape %s entry %d is %d at batch %d, not the batch", out, at, va[at], probeBatches[0])
			}
			nodes = append(nodes, batchShape(out, va, at)...)
			needBatch = true
		default:
			return fmt.Errorf("cannot make the batch dynamic: constant %s depends on the batch size and is not only a Reshape or Expand shape", out)
		}
	}
	if needBatch {
		shape := &onnxpb.NodeProto{Name: ptr(batchSizeName), OpType: ptr("Shape"), Input: []string{g.Input[0].GetName()},
			Output: []string{batchSizeName}, Attribute: []*onnxpb.AttributeProto{intAttr("end", 1), intAttr("start", 0)}}
		nodes = append([]*onnxpb.NodeProto{shape}, nodes...)
	}
	g.Node = nodes
	for _, v := range slices.Concat(g.Input, g.Output) {
		dims := v.GetType().GetTensorType().GetShape().GetDim()
		if len(dims) == 0 {
			return fmt.Errorf("cannot make the batch dynamic: %s has no batch dimension", v.GetName())
		}
		dims[0].Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: BatchDim}
	}
	return nil
}

// onlyShapeUse returns "Reshape" or "Expand" when every use of value is as
// the shape operand (input 1) of that one op, else "".
func onlyShapeUse(uses []*onnxpb.NodeProto, value string) string {
	op := ""
	for _, n := range uses {
		if slices.Index(n.Input, value) != 1 || (n.GetOpType() != "Reshape" && n.GetOpType() != "Expand") || (op != "" && op != n.GetOpType()) {
			return ""
		}
		op = n.GetOpType()
	}
	return op
}

// batchShape returns nodes computing, under the name out, the shape shape
// with entry at replaced by the run-time batch size.
func batchShape(out string, shape []int64, at int) []*onnxpb.NodeProto {
	var nodes []*onnxpb.NodeProto
	var parts []string
	if at > 0 {
		nodes = append(nodes, constantNode(out+"/before", int64Tensor(out+"/before", shape[:at])))
		parts = append(parts, out+"/before")
	}
	parts = append(parts, batchSizeName)
	if at+1 < len(shape) {
		nodes = append(nodes, constantNode(out+"/after", int64Tensor(out+"/after", shape[at+1:])))
		parts = append(parts, out+"/after")
	}
	concat := &onnxpb.NodeProto{Name: ptr(out + "/Concat"), OpType: ptr("Concat"), Input: parts, Output: []string{out},
		Attribute: []*onnxpb.AttributeProto{intAttr("axis", 0)}}
	return append(nodes, concat)
}
