// Package lower rewrites the graphs taet executes for the device that runs
// them. What taet writes to disk stays standard ai.onnx; a session on the CPU
// may run a lowered copy instead.
//
// The CPU lowering replaces convolutions whose weights are graph inputs (the
// training step's forward and input-gradient convolutions, the attacks'
// input-gradient graphs) with ONNX Runtime's blocked-layout ("NCHWc")
// kernels, which the runtime otherwise uses only for constant weights:
//
//	Y = Conv(X, W, B)
//	  → Y = ReorderOutput(nchwc.Conv(ReorderInput(X), Wb, B), channels=M)
//	Wb = Reshape(Transpose(Reshape(W, [M/b, b, C/b, b, kH, kW]), [0,2,4,5,3,1]), [M, C, kH, kW])
//
// with b the block size of the machine's kernels (16 with AVX-512, 8 with
// AVX2; BlockSize asks the runtime). Wb is W in the runtime's OIHWBiBo filter
// layout. A value that several lowered convolutions read is reordered once,
// and a lowered convolution that reads another's output takes it blocked.
//
// With the onednn kernels (ort.OneDNN), the gradients the rules record
// (graphs.Model.ConvGrads, ReluGrads, NormGrads) are first handed to
// oneDNN's backward primitives, custom ops of the domain ai.taet.onednn
// (ConvGrads, ReluGrads, Norms), and the standard subgraphs they replace
// are dropped; the forward convolutions and normalizations those gradients
// belong to run on oneDNN's forward primitives (Convs, Norms). In the
// attacks' graphs, whose weights are constants, the forward convolutions
// and the input gradients are written to stay blocked from one layer to
// the next (BlockedChains).
package lower

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/onnxpb"
	"github.com/taet-ml/taet/onnx/ort"
)

// Domain is ONNX Runtime's operator domain of the blocked-layout kernels.
const Domain = "com.microsoft.nchwc"

// ForSession returns the serialized model a session with opts should run: m
// itself on CUDA or with standard kernels, else m with its convolutions
// blocked (Conv) and, with the onednn kernels (opts.Kernels resolving to
// ort.OneDNN), on oneDNN first: its convolution gradients where that is
// faster (ConvGrads, oneDNNGrad), its ReLU gradients (ReluGrads: one pass
// instead of Greater and Where, half the CPU time in BenchmarkReluGrad), its
// per-channel scales of input gradients by constants (FoldScales, the
// attacks' BatchNorms: one pass fewer per layer), its
// forward convolutions (Convs: no weight transposes or layout reorders in
// the graph) and its training-mode BatchNorms and LayerNorms with their
// gradients (Norms: two passes of oneDNN's kernels instead of the runtime's
// op and a dozen reductions and elementwise passes), and its chains of
// constant-weight convolutions and their input gradients in the blocked
// layout (BlockedChains). On the CIFAR ResNet-18 train step
// (BenchmarkProfile) Convs and Norms took the step from 3.95 to 2.98 s;
// BlockedChains took one PGD iteration from 2.21 to 1.87 s (input-grad,
// alternated with the graph before it).
func ForSession(m *graphs.Model, opts ort.Options) ([]byte, error) {
	kernels, _ := opts.Kernels.Resolve()
	if opts.Device.CUDA || kernels == ort.Standard {
		return m.Bytes()
	}
	block, err := BlockSize()
	if err != nil {
		return nil, err
	}
	if kernels == ort.OneDNN {
		if m, _, err = ConvGrads(m, oneDNNGrad); err != nil {
			return nil, err
		}
		if m, _, err = FoldScales(m); err != nil {
			return nil, err
		}
		if m, _, err = ReluGrads(m); err != nil {
			return nil, err
		}
		if m, _, err = Convs(m); err != nil {
			return nil, err
		}
		if m, _, err = Norms(m); err != nil {
			return nil, err
		}
		if m, _, err = BlockedChains(m, block); err != nil {
			return nil, err
		}
	}
	lowered, _, err := Conv(m, block)
	if err != nil {
		return nil, err
	}
	return lowered.Bytes()
}

// oneDNNGrad reports whether ForSession gives the convolution gradient g to
// oneDNN: every one. Per layer (BenchmarkWeightGrad, BenchmarkInputGrad),
// oneDNN's weight gradient took half the CPU time of the Slices and Gemms,
// and its input gradient as much as the blocked Conv with flipped weights at
// 64 channels and 32×32, 1.4–3× less for deeper layers, and 1.4–2.2× less
// than the ConvTranspose of strided ones.
func oneDNNGrad(graphs.ConvGrad) bool { return true }

var probed struct {
	sync.Mutex
	block int64
}

// BlockSize returns the channel block of the runtime's blocked-layout
// kernels on this machine, found by a probe session the first time it
// succeeds: ReorderInput pads a 4-channel tensor to one block.
func BlockSize() (int64, error) {
	probed.Lock()
	defer probed.Unlock()
	if probed.block == 0 {
		b, err := probeBlockSize()
		if err != nil {
			return 0, err
		}
		probed.block = b
	}
	return probed.block, nil
}

func probeBlockSize() (int64, error) {
	const in, shape = "x", "shape"
	g := &onnxpb.GraphProto{
		Name:   ptr("nchwc-probe"),
		Input:  []*onnxpb.ValueInfoProto{tensorInfo(in, onnx.Float, 1, 4, 1, 1)},
		Output: []*onnxpb.ValueInfoProto{tensorInfo(shape, onnx.Int64, 4)},
		Node: []*onnxpb.NodeProto{
			{OpType: ptr("ReorderInput"), Domain: ptr(Domain), Input: []string{in}, Output: []string{"blocked"}},
			{OpType: ptr("Shape"), Input: []string{"blocked"}, Output: []string{shape}},
		},
	}
	b, err := onnx.Marshal(withDomain(&onnxpb.ModelProto{
		IrVersion:   ptr(int64(onnx.IRVersion)),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: ptr(""), Version: ptr(int64(onnx.Opset))}},
		Graph:       g,
	}, Domain))
	if err != nil {
		return 0, err
	}
	s, err := ort.NewSession(b, []string{in}, []string{shape}, ort.Options{Threads: 1})
	if err != nil {
		return 0, fmt.Errorf("lower: probe the blocked-layout kernels: %w", err)
	}
	defer s.Close()
	x, err := ort.NewZeros[float32](1, 4, 1, 1)
	if err != nil {
		return 0, err
	}
	defer x.Close()
	out, err := ort.NewZeros[int64](4)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	if err := s.Run([]ort.Value{x}, []ort.Value{out}); err != nil {
		return 0, fmt.Errorf("lower: probe the blocked-layout kernels: %w", err)
	}
	return out.Data()[1], nil
}

// Conv returns m with every eligible convolution on the blocked-layout
// kernels of block size block, and how many it lowered. A convolution is
// eligible when it is 2-D, ungrouped, its weights are not computed from
// constants alone (the runtime blocks those itself, see constants) and both
// its channel counts are multiples of block. m is not modified; the result
// shares its initializers.
func Conv(m *graphs.Model, block int64) (*graphs.Model, int, error) {
	src := m.Proto.GetGraph()
	consts := constants(src)
	r := &rewriter{m: m, block: block, blocked: map[string]string{}, consts: map[string]bool{}}
	for _, n := range src.GetNode() {
		if !r.eligible(n, consts) {
			r.nodes = append(r.nodes, n)
			continue
		}
		if err := r.lowerConv(n); err != nil {
			return nil, 0, err
		}
		r.count++
	}
	if r.count == 0 {
		return m, 0, nil
	}
	return withNodes(m, r.nodes, Domain), r.count, nil
}

// withNodes returns m over nodes, with domain imported where it is not
// yet; it shares m's initializers.
func withNodes(m *graphs.Model, nodes []*onnxpb.NodeProto, domain string) *graphs.Model {
	src := m.Proto.GetGraph()
	g := &onnxpb.GraphProto{
		Name: src.Name, Input: src.Input, Output: src.Output, Initializer: src.Initializer,
		ValueInfo: src.ValueInfo, DocString: src.DocString, Node: nodes,
	}
	p := &onnxpb.ModelProto{
		IrVersion: m.Proto.IrVersion, ProducerName: m.Proto.ProducerName, ProducerVersion: m.Proto.ProducerVersion,
		OpsetImport: m.Proto.OpsetImport, MetadataProps: m.Proto.MetadataProps, Graph: g,
	}
	if !slices.ContainsFunc(p.OpsetImport, func(o *onnxpb.OperatorSetIdProto) bool { return o.GetDomain() == domain }) {
		p = withDomain(p, domain)
	}
	return m.WithProto(p)
}

// constants returns the values of g computed from initializers and
// constants alone (g's nodes are in topological order). The runtime folds
// them and blocks the convolutions they weight itself, fusing what follows
// (BatchNorm, Relu) and keeping chains blocked: lowering those would only
// take that from it.
func constants(g *onnxpb.GraphProto) map[string]bool {
	c := map[string]bool{}
	for _, t := range g.GetInitializer() {
		c[t.GetName()] = true
	}
	for _, n := range g.GetNode() {
		if strings.HasPrefix(n.GetOpType(), "Random") {
			continue
		}
		if !slices.ContainsFunc(n.GetInput(), func(in string) bool { return in != "" && !c[in] }) {
			for _, out := range n.GetOutput() {
				c[out] = true
			}
		}
	}
	return c
}

// rewriter carries Conv's state through the node list.
type rewriter struct {
	m       *graphs.Model
	block   int64
	nodes   []*onnxpb.NodeProto
	blocked map[string]string // value → its blocked-layout copy
	consts  map[string]bool   // shape constants emitted so far
	count   int
}

func (r *rewriter) eligible(n *onnxpb.NodeProto, consts map[string]bool) bool {
	return blockable(r.m, n, r.block) && !consts[n.GetInput()[1]]
}

// blockable reports whether n is a standard 2-D Conv, ungrouped and of
// explicit pads, whose weights are 4-D with both channel counts multiples
// of block: what the runtime's blocked Conv runs.
func blockable(m *graphs.Model, n *onnxpb.NodeProto, block int64) bool {
	if n.GetOpType() != "Conv" || n.GetDomain() != "" || len(n.GetInput()) < 2 {
		return false
	}
	w, ok := m.ValueShape(n.GetInput()[1])
	if !ok || len(w) != 4 {
		return false
	}
	for _, a := range n.GetAttribute() {
		if a.GetName() == "group" && a.GetI() != 1 || a.GetName() == "auto_pad" && string(a.GetS()) != "NOTSET" {
			return false
		}
	}
	return w[0]%block == 0 && w[1]%block == 0
}

// lowerConv appends the blocked form of the Conv node n.
func (r *rewriter) lowerConv(n *onnxpb.NodeProto) error {
	x, w := n.GetInput()[0], n.GetInput()[1]
	ws, _ := r.m.ValueShape(w)
	mOut, kh, kw := ws[0], ws[2], ws[3]
	if len(n.GetOutput()) != 1 {
		return fmt.Errorf("lower: Conv %s has %d outputs", n.GetName(), len(n.GetOutput()))
	}
	y := n.GetOutput()[0]
	name := n.GetName() + "/nchwc"

	xb := r.blockedInput(x)
	in := slices.Clone(n.GetInput())
	in[0], in[1] = xb, r.blockedWeights(w, ws, name)
	conv := node("Conv", Domain, name+"/y", in, convAttrs(n.GetAttribute(), kh, kw))
	conv.Name = ptr(name)
	r.nodes = append(r.nodes, conv,
		node("ReorderOutput", Domain, y, []string{name + "/y"}, []*onnxpb.AttributeProto{intAttr("channels", mOut)}))
	r.blocked[y] = name + "/y"
	return nil
}

// blockedWeights appends the reorder of the weights w [M, C, kH, kW] into
// the blocked Conv's OIHWBiBo filter layout and returns its output.
func (r *rewriter) blockedWeights(w string, ws []int64, name string) string {
	b := r.block
	split := r.shapeConst(ws[0]/b, b, ws[1]/b, b, ws[2], ws[3])
	whole := r.shapeConst(ws...)
	r.nodes = append(r.nodes,
		node("Reshape", "", name+"/w_split", []string{w, split}, nil),
		node("Transpose", "", name+"/w_oihwbibo", []string{name + "/w_split"}, []*onnxpb.AttributeProto{ints("perm", 0, 2, 4, 5, 3, 1)}),
		node("Reshape", "", name+"/w", []string{name + "/w_oihwbibo", whole}, nil),
	)
	return name + "/w"
}

// blockedInput returns the blocked copy of x, reordering it once.
func (r *rewriter) blockedInput(x string) string {
	if xb, ok := r.blocked[x]; ok {
		return xb
	}
	xb := x + "/nchwc"
	r.nodes = append(r.nodes, node("ReorderInput", Domain, xb, []string{x}, nil))
	r.blocked[x] = xb
	return xb
}

// shapeConst returns the name of an int64 Constant holding dims.
func (r *rewriter) shapeConst(dims ...int64) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = fmt.Sprint(d)
	}
	name := "nchwc/shape/" + strings.Join(parts, "x")
	if !r.consts[name] {
		r.consts[name] = true
		t := &onnxpb.TensorProto{Name: &name, Dims: []int64{int64(len(dims))},
			DataType: ptr(int32(onnx.Int64)), Int64Data: dims}
		r.nodes = append(r.nodes, node("Constant", "", name, nil, []*onnxpb.AttributeProto{
			{Name: ptr("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: t}}))
	}
	return name
}

// convAttrs returns a standard Conv's attributes for the blocked Conv, which
// requires kernel_shape.
func convAttrs(attrs []*onnxpb.AttributeProto, kh, kw int64) []*onnxpb.AttributeProto {
	out := slices.Clone(attrs)
	if !slices.ContainsFunc(attrs, func(a *onnxpb.AttributeProto) bool { return a.GetName() == "kernel_shape" }) {
		out = append(out, ints("kernel_shape", kh, kw))
	}
	return out
}

// withDomain adds version 1 of domain to p's opset imports.
func withDomain(p *onnxpb.ModelProto, domain string) *onnxpb.ModelProto {
	p.OpsetImport = append(slices.Clone(p.OpsetImport), &onnxpb.OperatorSetIdProto{Domain: ptr(domain), Version: ptr(int64(1))})
	return p
}

func node(op, domain, out string, in []string, attrs []*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{Name: ptr(out), OpType: &op, Domain: &domain, Input: in, Output: []string{out}, Attribute: attrs}
}

func ints(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: &name, Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: &name, Type: onnxpb.AttributeProto_INT.Enum(), I: &v}
}

func floatAttr(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: &name, Type: onnxpb.AttributeProto_FLOAT.Enum(), F: &v}
}

func tensorInfo(name string, dt onnx.DType, dims ...int64) *onnxpb.ValueInfoProto {
	d := make([]*onnxpb.TensorShapeProto_Dimension, len(dims))
	for i, v := range dims {
		d[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	return &onnxpb.ValueInfoProto{Name: &name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: ptr(int32(dt)), Shape: &onnxpb.TensorShapeProto{Dim: d}}}}}
}

func ptr[T any](v T) *T { return &v }
