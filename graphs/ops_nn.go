package graphs

import (
	"slices"

	"github.com/taet-ml/taet/onnx"
)

func init() {
	registerOps(map[string]int{ // op_type: the version emitted (since_version at the model opset)
		"MatMul": 13, "Gemm": 13, "Conv": 11, "ConvTranspose": 11, "MaxPool": 12,
		"AveragePool": 11, "GlobalAveragePool": 1, "BatchNormalization": 15,
		"LayerNormalization": 17, "Softmax": 13, "LogSoftmax": 13, "Col2Im": 18,
	})
}

// MatMul returns the matrix product of x and y with numpy semantics: 1-D
// operands are promoted and their added axis removed, leading (batch) axes
// broadcast (ONNX MatMul-13). [.., M, K] × [.., K, N] → [.., M, N].
func MatMul(x, y *Value) *Value {
	b := x.b
	b.requireFloat("MatMul", x, y)
	xs, ys := x.shape, y.shape
	if len(xs) == 0 || len(ys) == 0 {
		b.fail("MatMul", "scalar operand: %s, %s", x, y)
	}
	if len(xs) == 1 {
		xs = []int64{1, xs[0]}
	}
	if len(ys) == 1 {
		ys = []int64{ys[0], 1}
	}
	if xs[len(xs)-1] != ys[len(ys)-2] {
		b.fail("MatMul", "inner dimensions differ: %s × %s", x, y)
	}
	batch := b.broadcast("MatMul", xs[:len(xs)-2], ys[:len(ys)-2])
	var out []int64
	out = append(out, batch...)
	if x.Rank() > 1 {
		out = append(out, xs[len(xs)-2])
	}
	if y.Rank() > 1 {
		out = append(out, ys[len(ys)-1])
	}
	return b.add1("MatMul", []*Value{x, y}, nil, outSpec{x.dtype, out})
}

// GemmOpts are Gemm's attributes. The zero value means alpha = beta = 1, no transposes.
type GemmOpts struct {
	Alpha, Beta    float32 // 0 means 1
	TransA, TransB bool
}

// Gemm returns alpha·A'·B' + beta·C for 2-D A and B (A' = Aᵀ with TransA,
// likewise B'), C broadcast to [M, N] or nil (ONNX Gemm-13).
func Gemm(a, bm, c *Value, o GemmOpts) *Value {
	b := a.b
	b.requireFloat("Gemm", a, bm)
	if a.Rank() != 2 || bm.Rank() != 2 {
		b.fail("Gemm", "operands must be 2-D: %s, %s", a, bm)
	}
	m, k := a.shape[0], a.shape[1]
	if o.TransA {
		m, k = k, m
	}
	k2, n := bm.shape[0], bm.shape[1]
	if o.TransB {
		k2, n = n, k2
	}
	if k != k2 {
		b.fail("Gemm", "inner dimensions differ: %s × %s (transA %v, transB %v)", a, bm, o.TransA, o.TransB)
	}
	inputs := []*Value{a, bm}
	if c != nil {
		b.requireFloat("Gemm", c)
		if out, ok := broadcastShapes([]int64{m, n}, c.shape); !ok || !slices.Equal(out, []int64{m, n}) {
			b.fail("Gemm", "C %s does not broadcast to [%d %d]", c, m, n)
		}
		inputs = append(inputs, c)
	}
	attrs := []attr{attrFloat("alpha", or1(o.Alpha)), attrFloat("beta", or1(o.Beta))}
	if o.TransA {
		attrs = append(attrs, attrInt("transA", 1))
	}
	if o.TransB {
		attrs = append(attrs, attrInt("transB", 1))
	}
	return b.add1("Gemm", inputs, attrs, outSpec{a.dtype, []int64{m, n}})
}

func or1(f float32) float32 {
	if f == 0 {
		return 1
	}
	return f
}

// ConvOpts are the attributes of Conv and ConvTranspose for 2-D images.
// Nil slices mean the ONNX defaults: strides and dilations 1, pads 0.
type ConvOpts struct {
	Strides   []int64 // [sH, sW]
	Pads      []int64 // [top, left, bottom, right]
	Dilations []int64 // [dH, dW]
	Group     int64   // 0 means 1
	// OutputPadding adds rows/columns at the bottom/right of a
	// ConvTranspose output ([oH, oW]); Conv ignores it.
	OutputPadding []int64
}

// norm returns o with defaults filled in, panicking for op on bad lengths.
func (o ConvOpts) norm(b *Builder, op string) ConvOpts {
	fill := func(s []int64, n int, def int64, what string) []int64 {
		if s == nil {
			return slices.Repeat([]int64{def}, n)
		}
		if len(s) != n {
			b.fail(op, "%s %v: want %d values", what, s, n)
		}
		return s
	}
	o.Strides = fill(o.Strides, 2, 1, "strides")
	o.Pads = fill(o.Pads, 4, 0, "pads")
	o.Dilations = fill(o.Dilations, 2, 1, "dilations")
	o.OutputPadding = fill(o.OutputPadding, 2, 0, "output_padding")
	if o.Group == 0 {
		o.Group = 1
	}
	return o
}

func (o ConvOpts) attrs(kernel []int64) []attr {
	return []attr{
		attrInts("dilations", o.Dilations), attrInt("group", o.Group), attrInts("kernel_shape", kernel),
		attrInts("pads", o.Pads), attrInts("strides", o.Strides),
	}
}

// convOut returns the output length of a convolution or pooling along one axis.
func convOut(in, k, stride, padBegin, padEnd, dilation int64) int64 {
	return (in+padBegin+padEnd-dilation*(k-1)-1)/stride + 1
}

// Conv returns the 2-D cross-correlation of x [N, C, H, W] with weights w
// [M, C/group, kH, kW], plus bias [M] when not nil (ONNX Conv-11). Output
// [N, M, H', W'] with H' = ⌊(H + padT + padB − dH·(kH−1) − 1)/sH⌋ + 1.
func Conv(x, w, bias *Value, o ConvOpts) *Value {
	b := x.b
	b.requireFloat("Conv", x, w)
	o = o.norm(b, "Conv")
	if x.Rank() != 4 || w.Rank() != 4 {
		b.fail("Conv", "want 4-D input and weights, got %s and %s", x, w)
	}
	n, c, h, wd := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	m, cg, kh, kw := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
	if c%o.Group != 0 || m%o.Group != 0 || cg != c/o.Group {
		b.fail("Conv", "channels: input %s, weights %s, group %d", x, w, o.Group)
	}
	inputs := []*Value{x, w}
	if bias != nil {
		if !slices.Equal(bias.shape, []int64{m}) {
			b.fail("Conv", "bias %s: want [%d]", bias, m)
		}
		inputs = append(inputs, bias)
	}
	oh := convOut(h, kh, o.Strides[0], o.Pads[0], o.Pads[2], o.Dilations[0])
	ow := convOut(wd, kw, o.Strides[1], o.Pads[1], o.Pads[3], o.Dilations[1])
	if oh <= 0 || ow <= 0 {
		b.fail("Conv", "empty output %dx%d for input %s and kernel %s", oh, ow, x, w)
	}
	return b.add1("Conv", inputs, o.attrs([]int64{kh, kw}), outSpec{x.dtype, []int64{n, m, oh, ow}})
}

// ConvTranspose returns the transposed 2-D convolution of x [N, C, H, W] with
// weights w [C, M/group, kH, kW], plus bias [M] (ONNX ConvTranspose-11).
// Output [N, M, H', W'] with H' = sH·(H−1) + outPadH + dH·(kH−1) + 1 − padT − padB.
func ConvTranspose(x, w, bias *Value, o ConvOpts) *Value {
	b := x.b
	b.requireFloat("ConvTranspose", x, w)
	o = o.norm(b, "ConvTranspose")
	if x.Rank() != 4 || w.Rank() != 4 {
		b.fail("ConvTranspose", "want 4-D input and weights, got %s and %s", x, w)
	}
	n, c, h, wd := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	if w.shape[0] != c || c%o.Group != 0 {
		b.fail("ConvTranspose", "channels: input %s, weights %s, group %d", x, w, o.Group)
	}
	m, kh, kw := w.shape[1]*o.Group, w.shape[2], w.shape[3]
	inputs := []*Value{x, w}
	if bias != nil {
		if !slices.Equal(bias.shape, []int64{m}) {
			b.fail("ConvTranspose", "bias %s: want [%d]", bias, m)
		}
		inputs = append(inputs, bias)
	}
	oh := o.Strides[0]*(h-1) + o.OutputPadding[0] + o.Dilations[0]*(kh-1) + 1 - o.Pads[0] - o.Pads[2]
	ow := o.Strides[1]*(wd-1) + o.OutputPadding[1] + o.Dilations[1]*(kw-1) + 1 - o.Pads[1] - o.Pads[3]
	if oh <= 0 || ow <= 0 {
		b.fail("ConvTranspose", "empty output %dx%d", oh, ow)
	}
	attrs := o.attrs([]int64{kh, kw})
	if o.OutputPadding[0] != 0 || o.OutputPadding[1] != 0 {
		attrs = append(attrs, attrInts("output_padding", o.OutputPadding))
	}
	return b.add1("ConvTranspose", inputs, attrs, outSpec{x.dtype, []int64{n, m, oh, ow}})
}

// PoolOpts are the attributes of MaxPool and AveragePool for 2-D images.
type PoolOpts struct {
	Kernel  []int64 // [kH, kW], required
	Strides []int64 // nil means 1
	Pads    []int64 // [top, left, bottom, right]; nil means 0
	// CountIncludePad makes AveragePool divide by the full kernel size at
	// borders instead of the number of unpadded elements.
	CountIncludePad bool
}

func (b *Builder) pool(op string, x *Value, o PoolOpts, withIndices bool) []*Value {
	b.requireFloat(op, x)
	if x.Rank() != 4 || len(o.Kernel) != 2 {
		b.fail(op, "want a 4-D input and a 2-D kernel, got %s and %v", x, o.Kernel)
	}
	c := ConvOpts{Strides: o.Strides, Pads: o.Pads}.norm(b, op)
	oh := convOut(x.shape[2], o.Kernel[0], c.Strides[0], c.Pads[0], c.Pads[2], 1)
	ow := convOut(x.shape[3], o.Kernel[1], c.Strides[1], c.Pads[1], c.Pads[3], 1)
	if oh <= 0 || ow <= 0 {
		b.fail(op, "empty output %dx%d for %s", oh, ow, x)
	}
	out := []int64{x.shape[0], x.shape[1], oh, ow}
	attrs := []attr{attrInts("kernel_shape", o.Kernel), attrInts("pads", c.Pads), attrInts("strides", c.Strides)}
	if op == "AveragePool" && o.CountIncludePad {
		attrs = append(attrs, attrInt("count_include_pad", 1))
	}
	outs := []outSpec{{x.dtype, out}}
	if withIndices {
		outs = append(outs, outSpec{onnx.Int64, out})
	}
	return b.addNode(op, []*Value{x}, attrs, outs...)
}

// MaxPool returns the maximum over each kernel window of x [N, C, H, W]
// (ONNX MaxPool-12); padding never wins.
func MaxPool(x *Value, o PoolOpts) *Value { return x.b.pool("MaxPool", x, o, false)[0] }

// MaxPoolWithIndices is MaxPool that also returns, for each output, the
// int64 flat index (n·C·H·W + c·H·W + h·W + w) of the maximal input element.
func MaxPoolWithIndices(x *Value, o PoolOpts) (y, indices *Value) {
	outs := x.b.pool("MaxPool", x, o, true)
	return outs[0], outs[1]
}

// AveragePool returns the mean over each kernel window of x [N, C, H, W]
// (ONNX AveragePool-11).
func AveragePool(x *Value, o PoolOpts) *Value { return x.b.pool("AveragePool", x, o, false)[0] }

// GlobalAveragePool averages x [N, C, H, W] over H and W, giving [N, C, 1, 1]
// (ONNX GlobalAveragePool-1).
func GlobalAveragePool(x *Value) *Value {
	b := x.b
	b.requireFloat("GlobalAveragePool", x)
	if x.Rank() < 3 {
		b.fail("GlobalAveragePool", "want rank ≥ 3, got %s", x)
	}
	out := slices.Clone(x.shape)
	for i := 2; i < len(out); i++ {
		out[i] = 1
	}
	return b.add1("GlobalAveragePool", []*Value{x}, nil, outSpec{x.dtype, out})
}

// BatchNormOpts are BatchNormalization's attributes; zero values mean the
// ONNX defaults (epsilon 1e-5, momentum 0.9). PyTorch's momentum 0.1 is
// ONNX momentum 0.9: running = momentum·running + (1−momentum)·batch.
//
// UnbiasedRunningVar makes the training mode update the running variance
// with the unbiased batch variance (divided by n − 1, n = N·H·W), as
// PyTorch's BatchNorm2d does, instead of the biased one of the ONNX spec;
// the output y is normalised with the biased one either way.
type BatchNormOpts struct {
	Epsilon            float32
	Momentum           float32
	UnbiasedRunningVar bool
}

// momentum returns the ONNX momentum, 0.9 for the zero value.
func (o BatchNormOpts) momentum() float32 {
	if o.Momentum == 0 {
		return 0.9
	}
	return o.Momentum
}

func (o BatchNormOpts) attrs(training bool) []attr {
	eps := o.Epsilon
	if eps == 0 {
		eps = 1e-5
	}
	a := []attr{attrFloat("epsilon", eps), attrFloat("momentum", o.momentum())}
	if training {
		a = append(a, attrInt("training_mode", 1))
	}
	return a
}

func (b *Builder) checkBN(x, scale, bias, mean, variance *Value) {
	b.requireFloat("BatchNormalization", x, scale, bias, mean, variance)
	if x.Rank() < 2 {
		b.fail("BatchNormalization", "want rank ≥ 2, got %s", x)
	}
	for _, p := range []*Value{scale, bias, mean, variance} {
		if !slices.Equal(p.shape, []int64{x.shape[1]}) {
			b.fail("BatchNormalization", "%s: want [%d]", p, x.shape[1])
		}
	}
}

// BatchNormalization normalises x [N, C, …] per channel with the running
// statistics (inference mode, ONNX BatchNormalization-15):
// y = scale·(x − mean)/√(var + ε) + bias.
func BatchNormalization(x, scale, bias, mean, variance *Value, o BatchNormOpts) *Value {
	b := x.b
	b.checkBN(x, scale, bias, mean, variance)
	return b.add1("BatchNormalization", []*Value{x, scale, bias, mean, variance}, o.attrs(false), outSpec{x.dtype, x.shape})
}

// BatchNormalizationTraining normalises x [N, C, …] per channel with the
// batch statistics (training mode, ONNX BatchNormalization-15) and returns
// y with the updated running statistics:
// runningMean' = momentum·runningMean + (1−momentum)·batchMean, likewise for
// the variance. y uses the biased batch variance σ² (divided by
// n = N·H·W); so does the running variance, as the ONNX spec and ONNX
// Runtime do, unless o.UnbiasedRunningVar asks for PyTorch's update
//
//	runningVar' = momentum·runningVar + (1−momentum)·σ²·n/(n−1)
//	            = n/(n−1) · (momentum·runningVar·(n−1)/n + (1−momentum)·σ²),
//
// i.e. the op's own update of runningVar·(n−1)/n, times n/(n−1): two
// per-channel multiplications, no pass over x. The runtime may write the
// op's running-statistics outputs into its running-statistics inputs, so
// the scaled copy of runningVar it gets here is never read again. It needs
// n ≥ 2, as PyTorch does in training mode.
func BatchNormalizationTraining(x, scale, bias, runningMean, runningVar *Value, o BatchNormOpts) (y, newMean, newVar *Value) {
	b := x.b
	b.checkBN(x, scale, bias, runningMean, runningVar)
	n := float64(onnx.Numel(x.shape) / x.shape[1])
	if o.UnbiasedRunningVar {
		if n < 2 {
			b.fail("BatchNormalization", "unbiased running variance: want more than 1 value per channel, got %s", x)
		}
		runningVar = Mul(runningVar, b.Scalar(float32((n-1)/n)))
	}
	c := outSpec{x.dtype, runningMean.shape}
	outs := b.addNode("BatchNormalization", []*Value{x, scale, bias, runningMean, runningVar}, o.attrs(true),
		outSpec{x.dtype, x.shape}, c, c)
	y, newMean, newVar = outs[0], outs[1], outs[2]
	if o.UnbiasedRunningVar {
		newVar = Mul(newVar, b.Scalar(float32(n/(n-1))))
	}
	return y, newMean, newVar
}

// LayerNormalization normalises x over the axes from axis to the last and
// applies scale and bias of those axes' shape (ONNX LayerNormalization-17):
// y = (x − mean)/√(var + ε)·scale + bias. bias may be nil.
func LayerNormalization(x, scale, bias *Value, axis int64, epsilon float32) *Value {
	b := x.b
	b.requireFloat("LayerNormalization", x, scale)
	a := b.axis("LayerNormalization", axis, x.Rank())
	norm := x.shape[a:]
	inputs := []*Value{x, scale}
	if !slices.Equal(scale.shape, norm) {
		b.fail("LayerNormalization", "scale %s: want %v", scale, norm)
	}
	if bias != nil {
		if !slices.Equal(bias.shape, norm) {
			b.fail("LayerNormalization", "bias %s: want %v", bias, norm)
		}
		inputs = append(inputs, bias)
	}
	if epsilon == 0 {
		epsilon = 1e-5
	}
	return b.add1("LayerNormalization", inputs, []attr{attrInt("axis", a), attrFloat("epsilon", epsilon)}, outSpec{x.dtype, x.shape})
}

// Softmax returns exp(x)/Σ exp(x) along axis (ONNX Softmax-13).
func Softmax(x *Value, axis int64) *Value {
	b := x.b
	b.requireFloat("Softmax", x)
	return b.unary("Softmax", x, attrInt("axis", b.axis("Softmax", axis, x.Rank())))
}

// LogSoftmax returns x − log Σ exp(x) along axis (ONNX LogSoftmax-13).
func LogSoftmax(x *Value, axis int64) *Value {
	b := x.b
	b.requireFloat("LogSoftmax", x)
	return b.unary("LogSoftmax", x, attrInt("axis", b.axis("LogSoftmax", axis, x.Rank())))
}

// Col2Im rearranges column blocks x [N, C·kH·kW, L] into images
// [N, C, H, W], adding overlapping values (ONNX Col2Im-18, the inverse
// layout of im2col). imageShape is [H, W], block is [kH, kW]; opts use
// Strides, Pads and Dilations. A graph with Col2Im gets opset 18.
func Col2Im(x *Value, imageShape, block []int64, o ConvOpts) *Value {
	b := x.b
	b.requireFloat("Col2Im", x)
	o = o.norm(b, "Col2Im")
	if x.Rank() != 3 || len(imageShape) != 2 || len(block) != 2 {
		b.fail("Col2Im", "want a 3-D input and 2-D image and block shapes, got %s, %v, %v", x, imageShape, block)
	}
	k := block[0] * block[1]
	lh := convOut(imageShape[0], block[0], o.Strides[0], o.Pads[0], o.Pads[2], o.Dilations[0])
	lw := convOut(imageShape[1], block[1], o.Strides[1], o.Pads[1], o.Pads[3], o.Dilations[1])
	if x.shape[1]%k != 0 || x.shape[2] != lh*lw {
		b.fail("Col2Im", "input %s does not match image %v with block %v (want [N, C·%d, %d])", x, imageShape, block, k, lh*lw)
	}
	attrs := []attr{attrInts("dilations", o.Dilations), attrInts("pads", o.Pads), attrInts("strides", o.Strides)}
	out := []int64{x.shape[0], x.shape[1] / k, imageShape[0], imageShape[1]}
	return b.add1("Col2Im", []*Value{x, b.ints(imageShape), b.ints(block)}, attrs, outSpec{x.dtype, out})
}

func init() {
	registerGrad("MatMul", gradMatMul)
	registerGrad("Gemm", gradGemm)
	registerGrad("Conv", gradConv)
	registerGrad("ConvTranspose", gradConvTranspose)
	registerGrad("MaxPool", gradMaxPool)
	registerGrad("AveragePool", gradAveragePool)
	registerGrad("GlobalAveragePool", gradGlobalAveragePool)
	registerGrad("BatchNormalization", gradBatchNormalization)
	registerGrad("LayerNormalization", gradLayerNormalization)
	registerGrad("Softmax", gradSoftmax)
	registerGrad("LogSoftmax", gradLogSoftmax)
	registerGrad("Col2Im", gradCol2Im)
}

// swapLast transposes the last two axes of x.
func swapLast(x *Value) *Value {
	r := x.Rank()
	perm := make([]int64, r)
	for i := range perm {
		perm[i] = int64(i)
	}
	perm[r-2], perm[r-1] = perm[r-1], perm[r-2]
	return Transpose(x, perm...)
}

// gradMatMul: for Z = X·Y, dX = G·Yᵀ and dY = Xᵀ·G, un-broadcast over the
// batch axes; 1-D operands are promoted to matrices as in the forward pass.
func gradMatMul(n *Node, gy []*Value) []*Value {
	x, y, g := n.Input(0), n.Input(1), gy[0]
	x2, y2 := x, y
	gshape := slices.Clone(g.shape)
	if x.Rank() == 1 {
		x2 = Reshape(x, 1, x.shape[0])
		gshape = slices.Insert(gshape, len(gshape)-boolInt(y.Rank() > 1), 1)
	}
	if y.Rank() == 1 {
		y2 = Reshape(y, y.shape[0], 1)
		gshape = append(gshape, 1)
	}
	g2 := Reshape(g, gshape...)
	return []*Value{
		n.IfNeeded(0, func() *Value { return Reshape(Unbroadcast(MatMul(g2, swapLast(y2)), x2.shape), x.shape...) }),
		n.IfNeeded(1, func() *Value { return Reshape(Unbroadcast(MatMul(swapLast(x2), g2), y2.shape), y.shape...) }),
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// gradGemm: for Y = α·A'·B' + β·C, dA' = α·G·B'ᵀ, dB' = α·A'ᵀ·G and
// dC = β·G summed to C's shape, each written as one Gemm with the
// transposes folded into its flags.
func gradGemm(n *Node, gy []*Value) []*Value {
	a, bm, g := n.Input(0), n.Input(1), gy[0]
	alpha, beta := n.AttrFloat("alpha", 1), n.AttrFloat("beta", 1)
	ta, tb := n.AttrInt("transA", 0) == 1, n.AttrInt("transB", 0) == 1
	out := []*Value{
		n.IfNeeded(0, func() *Value {
			if ta { // dA = α·B'·Gᵀ
				return Gemm(bm, g, nil, GemmOpts{Alpha: alpha, TransA: tb, TransB: true})
			}
			return Gemm(g, bm, nil, GemmOpts{Alpha: alpha, TransB: !tb})
		}),
		n.IfNeeded(1, func() *Value {
			if tb { // dB = α·Gᵀ·A'
				return Gemm(g, a, nil, GemmOpts{Alpha: alpha, TransA: true, TransB: ta})
			}
			return Gemm(a, g, nil, GemmOpts{Alpha: alpha, TransA: !ta})
		}),
	}
	if len(n.inputs) == 3 {
		c := n.Input(2)
		out = append(out, n.IfNeeded(2, func() *Value { return Unbroadcast(Mul(g, n.b.Scalar(beta)), c.shape) }))
	}
	return out
}

// convOptsOf reads a Conv, ConvTranspose or Col2Im node's attributes back.
func convOptsOf(n *Node) ConvOpts {
	return ConvOpts{
		Strides: n.AttrInts("strides"), Pads: n.AttrInts("pads"), Dilations: n.AttrInts("dilations"),
		Group: n.AttrInt("group", 1), OutputPadding: n.AttrInts("output_padding"),
	}.norm(n.b, n.op)
}

// patches returns the kh×kw strided windows of x [N, C, H, W] that a
// convolution with opts and output size oh×ow reads, as [N, C, kh·kw, oh, ow]:
// one strided Slice of the padded input per kernel position (the im2col
// layout without a Gemm-unfriendly gather).
func patches(x *Value, kh, kw, oh, ow int64, o ConvOpts) *Value {
	if slices.ContainsFunc(o.Pads, func(p int64) bool { return p != 0 }) {
		x = Pad(x, []int64{0, 0, o.Pads[0], o.Pads[1], 0, 0, o.Pads[2], o.Pads[3]}, "constant", 0)
	}
	var cols []*Value
	for i := range kh {
		for j := range kw {
			h0, w0 := i*o.Dilations[0], j*o.Dilations[1]
			s := Slice(x, []int64{h0, w0}, []int64{h0 + o.Strides[0]*(oh-1) + 1, w0 + o.Strides[1]*(ow-1) + 1},
				[]int64{2, 3}, o.Strides)
			cols = append(cols, Unsqueeze(s, 2))
		}
	}
	if len(cols) == 1 {
		return cols[0]
	}
	return Concat(2, cols...)
}

// convWeightGrad returns dW [M, C/group, kh, kw] of a convolution of x
// [N, C, H, W] whose output gradient is g [N, M, oh, ow]:
//
//	dW[m, c, i, j] = Σ_{n,p,q} g[n, m, p, q]·x_pad[n, c, p·s + i·d, q·s + j·d]
//
// Both are transposed once to put the batch inside (Xᵀ [C, N, H, W],
// Gᵀ [M, N·oh·ow]); then each kernel position (i, j) is one strided Slice
// of Xᵀ, [C', N·oh·ow], and one Gemm Gᵀ·Sliceᵀ → dW[:, :, i, j] [M', C'],
// with the batch and the pixels in the Gemm's inner dimension. This beats
// both an im2col matrix (k² times the input, plus its transpose) and a
// per-image batched MatMul (an [N, C', M'] product summed over N, which
// dominated deep layers with few pixels): see BenchmarkConvGrad. On 64→64
// channels at 32×32, batch 128 (BenchmarkWeightGrad in graphs/lower, CPU
// seconds per weight gradient) it also beat: one Gemm over the nine slices
// concatenated (about 3× the time), Gemms with each slice as the left
// operand against the gradient in NHWC, slices of the flattened, padded
// image at contiguous offsets, and a blocked-layout convolution over the
// batch (each 1.5–2× the time). The model records it (Model.ConvGrads),
// so a CPU lowering can hand it to a backward-weights kernel instead.
func convWeightGrad(x, g *Value, kh, kw int64, o ConvOpts) *Value {
	dw := convWeightGradOps(x, g, kh, kw, o)
	x.b.cgrads = append(x.b.cgrads, convGradRecord{out: dw, x: x, dy: g, kernel: []int64{kh, kw}, opts: o})
	return dw
}

// convGradRecord is a gradient convWeightGrad (x set) or convInputGrad (w
// set) built: what the model reports as a ConvGrad if out is live.
type convGradRecord struct {
	out, x, w, dy *Value
	xShape        []int64
	kernel        []int64
	opts          ConvOpts
}

func (r convGradRecord) grad() ConvGrad {
	g := ConvGrad{Out: r.out.name, DY: r.dy.name, XShape: r.xShape, Kernel: r.kernel, Opts: r.opts}
	if r.x != nil {
		g.X, g.XShape = r.x.name, r.x.shape
	} else {
		g.W = r.w.name
	}
	return g
}

// convWeightGradOps builds convWeightGrad's subgraph.
func convWeightGradOps(x, g *Value, kh, kw int64, o ConvOpts) *Value {
	n, c := x.shape[0], x.shape[1]
	m, oh, ow := g.shape[1], g.shape[2], g.shape[3]
	cg, mg := c/o.Group, m/o.Group
	if slices.ContainsFunc(o.Pads, func(p int64) bool { return p != 0 }) {
		x = Pad(x, []int64{0, 0, o.Pads[0], o.Pads[1], 0, 0, o.Pads[2], o.Pads[3]}, "constant", 0)
	}
	xt := Transpose(x, 1, 0, 2, 3)                      // [C, N, Hp, Wp]
	gt := Reshape(Transpose(g, 1, 0, 2, 3), m, n*oh*ow) // [M, N·oh·ow]
	var parts []*Value                                  // [M', C'] per group and kernel position
	for grp := range o.Group {
		gg := gt
		if o.Group > 1 {
			gg = Slice(gt, []int64{grp * mg}, []int64{(grp + 1) * mg}, []int64{0}, nil)
		}
		for i := range kh {
			for j := range kw {
				h0, w0 := i*o.Dilations[0], j*o.Dilations[1]
				xs := Slice(xt, []int64{grp * cg, h0, w0},
					[]int64{(grp + 1) * cg, h0 + o.Strides[0]*(oh-1) + 1, w0 + o.Strides[1]*(ow-1) + 1},
					[]int64{0, 2, 3}, []int64{1, o.Strides[0], o.Strides[1]})
				parts = append(parts, Gemm(gg, Reshape(xs, cg, n*oh*ow), nil, GemmOpts{TransB: true}))
			}
		}
	}
	if len(parts) == 1 {
		return Reshape(parts[0], m, cg, kh, kw)
	}
	// parts: [group][kh·kw] of [M', C'] → [group, kh·kw, M', C'] → [group, M', C', kh·kw].
	stacked := Reshape(Concat(0, parts...), o.Group, kh*kw, mg, cg)
	return Reshape(Transpose(stacked, 0, 2, 3, 1), m, cg, kh, kw)
}

// convInputGrad returns dX [N, C, H, W] of a convolution of x with weights w
// [M, C/group, kh, kw] given its output gradient g [N, M, oh, ow]: the
// transposed convolution of g with w. With stride 1 and pads that fit, it is
// the cheaper direct Conv of g with w flipped spatially and transposed
// per group ([C, M/group, kh, kw]), padded by d·(k−1) − pad. The model
// records it (Model.ConvGrads), so a CPU lowering can hand it to a
// backward-data kernel instead.
func convInputGrad(x, w, g *Value, o ConvOpts) *Value {
	dx := convInputGradOps(x, w, g, o)
	x.b.cgrads = append(x.b.cgrads, convGradRecord{out: dx, w: w, dy: g, xShape: x.shape, kernel: slices.Clone(w.shape[2:]), opts: o})
	return dx
}

// convInputGradOps builds convInputGrad's subgraph.
func convInputGradOps(x, w, g *Value, o ConvOpts) *Value {
	kh, kw := w.shape[2], w.shape[3]
	full := []int64{
		o.Dilations[0]*(kh-1) - o.Pads[0], o.Dilations[1]*(kw-1) - o.Pads[1],
		o.Dilations[0]*(kh-1) - o.Pads[2], o.Dilations[1]*(kw-1) - o.Pads[3],
	}
	if o.Strides[0] == 1 && o.Strides[1] == 1 && !slices.ContainsFunc(full, func(p int64) bool { return p < 0 }) {
		m, cg := w.shape[0], w.shape[1]
		wf := Slice(w, []int64{-1, -1}, []int64{-kh - 1, -kw - 1}, []int64{2, 3}, []int64{-1, -1})
		wf = Reshape(Transpose(Reshape(wf, o.Group, m/o.Group, cg, kh, kw), 0, 2, 1, 3, 4), o.Group*cg, m/o.Group, kh, kw)
		return Conv(g, wf, nil, ConvOpts{Pads: full, Dilations: o.Dilations, Group: o.Group})
	}
	// ConvTranspose output: s·(oh−1) + outpad + d·(k−1) + 1 − pads; choose outpad to land on H, W.
	outPad := []int64{
		x.shape[2] - (o.Strides[0]*(g.shape[2]-1) + o.Dilations[0]*(kh-1) + 1 - o.Pads[0] - o.Pads[2]),
		x.shape[3] - (o.Strides[1]*(g.shape[3]-1) + o.Dilations[1]*(kw-1) + 1 - o.Pads[1] - o.Pads[3]),
	}
	t := o
	t.OutputPadding = outPad
	return ConvTranspose(g, w, nil, t)
}

// gradConv: dX by convInputGrad, dW by convWeightGrad, dBias = Σ_{n,h,w} G.
func gradConv(n *Node, gy []*Value) []*Value {
	x, w, g := n.Input(0), n.Input(1), gy[0]
	o := convOptsOf(n)
	out := []*Value{
		n.IfNeeded(0, func() *Value { return convInputGrad(x, w, g, o) }),
		n.IfNeeded(1, func() *Value { return convWeightGrad(x, g, w.shape[2], w.shape[3], o) }),
	}
	if len(n.inputs) == 3 {
		out = append(out, n.IfNeeded(2, func() *Value { return ReduceSum(g, []int64{0, 2, 3}, false) }))
	}
	return out
}

// gradConvTranspose: ConvTranspose(x; W) is the adjoint of Conv(·; W), so
// dX = Conv(G; W) and dW is Conv's weight gradient with the roles of input
// and output gradient swapped; dBias = Σ_{n,h,w} G.
func gradConvTranspose(n *Node, gy []*Value) []*Value {
	x, w, g := n.Input(0), n.Input(1), gy[0]
	o := convOptsOf(n)
	out := []*Value{
		n.IfNeeded(0, func() *Value {
			return Conv(g, w, nil, ConvOpts{Strides: o.Strides, Pads: o.Pads, Dilations: o.Dilations, Group: o.Group})
		}),
		n.IfNeeded(1, func() *Value { return convWeightGrad(g, x, w.shape[2], w.shape[3], o) }),
	}
	if len(n.inputs) == 3 {
		out = append(out, n.IfNeeded(2, func() *Value { return ReduceSum(g, []int64{0, 2, 3}, false) }))
	}
	return out
}

// poolOptsOf reads a pooling node's attributes back.
func poolOptsOf(n *Node) PoolOpts {
	return PoolOpts{Kernel: n.AttrInts("kernel_shape"), Strides: n.AttrInts("strides"), Pads: n.AttrInts("pads"),
		CountIncludePad: n.AttrInt("count_include_pad", 0) == 1}
}

// gradMaxPool: each output's gradient goes to the input element it took,
// found by MaxPool's indices (recomputed here if the forward node did not
// output them) and added with a ScatterElements over the flattened input.
// Ties go to the element ONNX Runtime picks, the first in the window.
func gradMaxPool(n *Node, gy []*Value) []*Value {
	x := n.Input(0)
	var idx *Value
	if len(n.outputs) == 2 {
		idx = n.Output(1)
	} else {
		_, idx = MaxPoolWithIndices(x, poolOptsOf(n))
	}
	flat := ScatterElements(zerosLike(Reshape(x, -1)), Reshape(idx, -1), Reshape(gy[0], -1), 0, "add")
	return []*Value{Reshape(flat, x.shape...)}
}

// gradAveragePool: each output's gradient, divided by its window's divisor,
// is spread evenly over the window: a ConvTranspose of G/divisor with a
// kernel of ones, per channel. The divisor is the kernel size, or with
// padding and count_include_pad 0 the number of unpadded elements, which
// depends only on the position and is computed here as a constant.
func gradAveragePool(n *Node, gy []*Value) []*Value {
	x, g := n.Input(0), gy[0]
	b := n.b
	po := poolOptsOf(n)
	o := ConvOpts{Strides: po.Strides, Pads: po.Pads}.norm(b, n.op)
	kh, kw := po.Kernel[0], po.Kernel[1]
	nn, c, h, w := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	oh, ow := g.shape[2], g.shape[3]
	div := make([]float32, oh*ow)
	for p := range oh {
		for q := range ow {
			cnt := kh * kw
			if !po.CountIncludePad {
				rows := min(p*o.Strides[0]-o.Pads[0]+kh, h) - max(p*o.Strides[0]-o.Pads[0], 0)
				cols := min(q*o.Strides[1]-o.Pads[1]+kw, w) - max(q*o.Strides[1]-o.Pads[1], 0)
				cnt = rows * cols
			}
			div[p*ow+q] = 1 / float32(cnt)
		}
	}
	scaled := Mul(Reshape(g, nn*c, 1, oh, ow), b.Constant([]int64{1, 1, oh, ow}, div))
	ones := b.Constant([]int64{1, 1, kh, kw}, slices.Repeat([]float32{1}, int(kh*kw)))
	spread := convInputGrad(Reshape(x, nn*c, 1, h, w), ones, scaled, o)
	return []*Value{Reshape(spread, x.shape...)}
}

// gradGlobalAveragePool: each element gets 1/(H·W) of its channel's gradient.
func gradGlobalAveragePool(n *Node, gy []*Value) []*Value {
	x := n.Input(0)
	hw := onnx.Numel(x.shape[2:])
	return []*Value{Expand(Mul(gy[0], n.b.Scalar(1/float32(hw))), x.shape...)}
}

// channelShape returns [1, C, 1, …] for broadcasting per-channel values against x.
func channelShape(x *Value) []int64 {
	s := slices.Repeat([]int64{1}, x.Rank())
	s[1] = x.shape[1]
	return s
}

// gradBatchNormalization handles both modes.
//
// Inference mode, with σ = √(var + ε) and x̂ = (x − mean)/σ:
// dx = g·scale/σ, dscale = Σ g·x̂, dbias = Σ g, dmean = −Σ g·scale/σ,
// dvar = −½·Σ g·scale·x̂/σ², sums over every axis but the channel.
//
// Training mode normalises with the batch statistics μ_B and σ_B², which it
// recomputes here, and is written in its two-reduction form to make few
// passes over the activations: with d = x − μ_B, s = 1/σ_B, M the number of
// summed elements per channel, S_g = Σ g and S_gd = Σ g·d,
//
//	dx = a·g + b·d + c,  a = scale·s,  b = −a·s²·S_gd/M,  c = −a·S_g/M
//	dscale = s·S_gd,  dbias = S_g
//
// (the same as (1/σ_B)·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = g·scale and
// x̂ = d·s). The running-statistics outputs pass no gradient back, and the
// running inputs get none.
func gradBatchNormalization(n *Node, gy []*Value) []*Value {
	x, scale, g := n.Input(0), n.Input(1), gy[0]
	if g == nil { // only the running statistics reach the loss
		return make([]*Value, 5)
	}
	if n.AttrInt("training_mode", 0) == 1 {
		return gradBatchNormTraining(n, x, scale, g)
	}
	b := n.b
	cs := channelShape(x)
	axes := channelAxes(x)
	mean, variance := Reshape(n.Input(3), cs...), Reshape(n.Input(4), cs...)
	invStd := Reciprocal(Sqrt(Add(variance, b.Scalar(n.AttrFloat("epsilon", 1e-5)))))
	xhat := Mul(Sub(x, mean), invStd)
	gs := Mul(g, Reshape(scale, cs...)) // ĝ = g·scale
	sum := func(v *Value) *Value { return ReduceSum(v, axes, false) }
	return []*Value{
		// scale/σ per channel first: one pass over g, not two
		n.IfNeeded(0, func() *Value { return Mul(g, Mul(Reshape(scale, cs...), invStd)) }),
		n.IfNeeded(1, func() *Value { return sum(Mul(g, xhat)) }),
		n.IfNeeded(2, func() *Value { return sum(g) }),
		n.IfNeeded(3, func() *Value { return Neg(sum(Mul(gs, invStd))) }),
		n.IfNeeded(4, func() *Value { return Mul(b.Scalar(-0.5), sum(Mul(Mul(gs, xhat), Mul(invStd, invStd)))) }),
	}
}

func gradBatchNormTraining(n *Node, x, scale, g *Value) []*Value {
	b := n.b
	cs, axes := channelShape(x), channelAxes(x)
	channels := x.shape[1]
	invM := b.Scalar(float32(channels) / float32(onnx.Numel(x.shape)))
	mean := ReduceMean(x, axes, true)
	d := Sub(x, mean)
	invStd := Reciprocal(Sqrt(Add(ReduceMean(Mul(d, d), axes, true), b.Scalar(n.AttrFloat("epsilon", 1e-5)))))
	sumG := ReduceSum(g, axes, true)
	sumGD := ReduceSum(Mul(g, d), axes, true)
	grads := []*Value{
		n.IfNeeded(0, func() *Value {
			a := Mul(Reshape(scale, cs...), invStd)
			bCoef := Neg(Mul(Mul(a, Mul(invStd, invStd)), Mul(sumGD, invM)))
			cCoef := Neg(Mul(a, Mul(sumG, invM)))
			return Add(Mul(g, a), Add(Mul(d, bCoef), cCoef))
		}),
		n.IfNeeded(1, func() *Value { return Reshape(Mul(invStd, sumGD), channels) }),
		n.IfNeeded(2, func() *Value { return Reshape(sumG, channels) }),
		nil, nil,
	}
	if grads[0] != nil && grads[1] != nil && grads[2] != nil { // for lowering (Model.NormGrads)
		b.ngrads = append(b.ngrads, normGradRecord{y: n.Output(0), dy: g, dx: grads[0], dscale: grads[1], dbias: grads[2]})
	}
	return grads
}

// normGradRecord is a normalization's gradient gradBatchNormTraining or
// gradLayerNormalization built: what the model reports as a NormGrad if
// its outputs are live.
type normGradRecord struct{ y, dy, dx, dscale, dbias *Value }

// channelAxes returns every axis of x but the channel axis 1.
func channelAxes(x *Value) []int64 {
	axes := []int64{0}
	for i := 2; i < x.Rank(); i++ {
		axes = append(axes, int64(i))
	}
	return axes
}

// gradLayerNormalization, with μ, σ over the normalised axes and x̂ = (x − μ)/σ:
// dx = (1/σ)·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = g·scale, means over the
// normalised axes; dscale = Σ g·x̂ and dbias = Σ g over the leading axes.
func gradLayerNormalization(n *Node, gy []*Value) []*Value {
	x, scale, g := n.Input(0), n.Input(1), gy[0]
	a := n.AttrInt("axis", -1)
	var norm, lead []int64
	for i := range int64(x.Rank()) {
		if i >= a {
			norm = append(norm, i)
		} else {
			lead = append(lead, i)
		}
	}
	mean := ReduceMean(x, norm, true)
	d := Sub(x, mean)
	invStd := Reciprocal(Sqrt(Add(ReduceMean(Mul(d, d), norm, true), n.b.Scalar(n.AttrFloat("epsilon", 1e-5)))))
	xhat := Mul(d, invStd)
	sumLead := func(v *Value) *Value {
		if len(lead) == 0 {
			return v
		}
		return ReduceSum(v, lead, false)
	}
	out := []*Value{
		n.IfNeeded(0, func() *Value {
			gs := Mul(g, scale)
			return Mul(invStd, Sub(Sub(gs, ReduceMean(gs, norm, true)), Mul(xhat, ReduceMean(Mul(gs, xhat), norm, true))))
		}),
		n.IfNeeded(1, func() *Value { return sumLead(Mul(g, xhat)) }),
	}
	if len(n.inputs) == 3 {
		out = append(out, n.IfNeeded(2, func() *Value { return sumLead(g) }))
		if out[0] != nil && out[1] != nil && out[2] != nil { // for lowering (Model.NormGrads)
			n.b.ngrads = append(n.b.ngrads, normGradRecord{y: n.Output(0), dy: g, dx: out[0], dscale: out[1], dbias: out[2]})
		}
	}
	return out
}

// gradSoftmax: dx = y·(g − Σ g·y) along the axis, reusing the output y.
func gradSoftmax(n *Node, gy []*Value) []*Value {
	y, g := n.Output(0), gy[0]
	axis := n.AttrInt("axis", -1)
	return []*Value{Mul(y, Sub(g, ReduceSum(Mul(g, y), []int64{axis}, true)))}
}

// gradLogSoftmax: dx = g − softmax(x)·Σ g along the axis, with softmax(x) = exp(y).
func gradLogSoftmax(n *Node, gy []*Value) []*Value {
	y, g := n.Output(0), gy[0]
	axis := n.AttrInt("axis", -1)
	return []*Value{Sub(g, Mul(Exp(y), ReduceSum(g, []int64{axis}, true)))}
}

// gradCol2Im: Col2Im adds column entries into image positions, so its
// adjoint reads them back: dX[n, c·k + i·kw + j, l] = G_pad[n, c, p·s + i·d, q·s + j·d]
// for block position l = (p, q), i.e. the patches of G.
func gradCol2Im(n *Node, gy []*Value) []*Value {
	x, g := n.Input(0), gy[0]
	o := convOptsOf(n)
	block := constInts(n.Input(2))
	img := constInts(n.Input(1))
	oh := convOut(img[0], block[0], o.Strides[0], o.Pads[0], o.Pads[2], o.Dilations[0])
	ow := convOut(img[1], block[1], o.Strides[1], o.Pads[1], o.Pads[3], o.Dilations[1])
	cols := patches(g, block[0], block[1], oh, ow, o) // [N, C, k², oh, ow]
	return []*Value{Reshape(cols, x.shape...), nil, nil}
}
