package export

import (
	"fmt"
	"math"
	"strings"

	"github.com/taet-ml/taet/onnx/onnxpb"
)

// FoldBatchNorm folds every inference-mode BatchNormalization of g that
// directly follows a Conv into that Conv (see the package documentation,
// "BatchNorm folding") and returns how many it folded. A pair is left as
// it is unless the Conv's output feeds only the BatchNormalization and
// every weight, bias and statistic is a float32 initializer that is not
// also a graph input. Graphs with subgraphs (If, Loop, Scan) are left
// alone. It returns an error for a pair whose shapes disagree.
func FoldBatchNorm(g *onnxpb.GraphProto) (int, error) {
	if hasSubgraphs(g) {
		return 0, nil // uses inside subgraphs are not tracked: leave such graphs alone
	}
	inits := map[string]*onnxpb.TensorProto{}
	for _, t := range g.Initializer {
		inits[t.GetName()] = t
	}
	for _, in := range g.Input { // an input of that name overrides the initializer
		delete(inits, in.GetName())
	}
	uses := map[string]int{}
	producer := map[string]*onnxpb.NodeProto{}
	names := map[string]bool{} // every value name, to keep new ones unique
	for _, n := range g.Node {
		for _, in := range n.Input {
			uses[in]++
		}
		for _, out := range n.Output {
			producer[out] = n
			names[out] = true
		}
	}
	for _, v := range g.Output {
		uses[v.GetName()]++
	}
	for _, v := range g.Input {
		names[v.GetName()] = true
	}
	for _, t := range g.Initializer {
		names[t.GetName()] = true
	}
	removed := map[*onnxpb.NodeProto]bool{}
	released := map[string]bool{} // initializers that lost a use
	for _, bn := range g.Node {
		if bn.GetOpType() != "BatchNormalization" || bn.GetDomain() != "" || len(bn.Input) != 5 || attr(bn, "training_mode").GetI() != 0 {
			continue
		}
		if len(bn.Output) > 1 && strings.Join(bn.Output[1:], "") != "" {
			continue // running statistics requested: a training node
		}
		conv := producer[bn.Input[0]]
		if conv == nil || conv.GetOpType() != "Conv" || conv.GetDomain() != "" || uses[bn.Input[0]] != 1 || len(conv.Input) < 2 {
			continue
		}
		operands := append([]string{conv.Input[1]}, bn.Input[1:]...)
		hasBias := len(conv.Input) > 2 && conv.Input[2] != ""
		if hasBias {
			operands = append(operands, conv.Input[2])
		}
		vals := make([][]float32, len(operands))
		ok := true
		for i, name := range operands {
			t := inits[name]
			if t == nil {
				ok = false
				break
			}
			v, err := floats(t)
			if err != nil {
				ok = false
				break
			}
			vals[i] = v
		}
		if !ok {
			continue
		}
		w, scale, beta, mean, variance := vals[0], vals[1], vals[2], vals[3], vals[4]
		dims := inits[conv.Input[1]].GetDims()
		c := len(scale)
		if len(dims) < 1 || dims[0] != int64(c) || len(beta) != c || len(mean) != c || len(variance) != c || (hasBias && len(vals[5]) != c) {
			return 0, fmt.Errorf("fold BatchNormalization %s into Conv %s: weight %v and %d, %d, %d, %d channel statistics disagree",
				bn.GetName(), conv.GetName(), dims, len(scale), len(beta), len(mean), len(variance))
		}
		eps := float64(1e-5) // the op's default
		if a := attr(bn, "epsilon"); a != nil {
			eps = float64(a.GetF())
		}
		per := len(w) / c
		newW := make([]float32, len(w))
		newB := make([]float32, c)
		for ch := range c {
			s := float64(scale[ch]) / math.Sqrt(float64(variance[ch])+eps)
			for i := ch * per; i < (ch+1)*per; i++ {
				newW[i] = float32(float64(w[i]) * s)
			}
			b := 0.0
			if hasBias {
				b = float64(vals[5][ch])
			}
			newB[ch] = float32((b-float64(mean[ch]))*s + float64(beta[ch]))
		}
		biasName := strings.TrimSuffix(conv.Input[1], ".weight") + ".bias"
		setFloats(g, inits, uses, names, released, conv, 1, conv.Input[1]+"_folded", dims, newW)
		if !hasBias {
			conv.Input = append(conv.Input[:2], "")
		}
		setFloats(g, inits, uses, names, released, conv, 2, biasName, []int64{int64(c)}, newB)
		for _, name := range bn.Input[1:] {
			uses[name]--
			released[name] = true
		}
		conv.Output[0] = bn.Output[0]
		producer[bn.Output[0]] = conv
		removed[bn] = true
	}
	if len(removed) == 0 {
		return 0, nil
	}
	var nodes []*onnxpb.NodeProto
	for _, n := range g.Node {
		if !removed[n] {
			nodes = append(nodes, n)
		}
	}
	g.Node = nodes
	var kept []*onnxpb.TensorProto
	for _, t := range g.Initializer {
		if !released[t.GetName()] || uses[t.GetName()] > 0 {
			kept = append(kept, t)
		}
	}
	g.Initializer = kept
	return len(removed), nil
}

// setFloats makes input i of conv the float32 tensor data: in place when
// the initializer there feeds only conv, else as a new initializer called
// name (made unique).
func setFloats(g *onnxpb.GraphProto, inits map[string]*onnxpb.TensorProto, uses map[string]int, names, released map[string]bool,
	conv *onnxpb.NodeProto, i int, name string, dims []int64, data []float32) {
	if t := inits[conv.Input[i]]; t != nil && uses[conv.Input[i]] == 1 {
		t.RawData, t.FloatData = floatTensor(name, dims, data).RawData, nil
		return
	}
	if old := conv.Input[i]; old != "" {
		uses[old]--
		released[old] = true
	}
	for names[name] {
		name += "_"
	}
	names[name] = true
	t := floatTensor(name, dims, data)
	g.Initializer = append(g.Initializer, t)
	inits[name] = t
	uses[name] = 1
	conv.Input[i] = name
}

// hasSubgraphs reports whether a node of g has a graph attribute.
func hasSubgraphs(g *onnxpb.GraphProto) bool {
	for _, n := range g.Node {
		for _, a := range n.Attribute {
			if a.G != nil || len(a.Graphs) > 0 {
				return true
			}
		}
	}
	return false
}
