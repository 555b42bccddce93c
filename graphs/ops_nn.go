package graphs

import (
	"slices"

	"github.com/taet-ml/taet/onnx"
)

func init() {
	registerOps("MatMul", "Gemm", "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool",
		"BatchNormalization", "LayerNormalization", "Softmax", "LogSoftmax", "Col2Im")
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
type BatchNormOpts struct {
	Epsilon  float32
	Momentum float32
}

func (o BatchNormOpts) attrs(training bool) []attr {
	eps, mom := o.Epsilon, o.Momentum
	if eps == 0 {
		eps = 1e-5
	}
	if mom == 0 {
		mom = 0.9
	}
	a := []attr{attrFloat("epsilon", eps), attrFloat("momentum", mom)}
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
// the variance (ONNX Runtime updates it with the unbiased batch variance, as PyTorch does).
func BatchNormalizationTraining(x, scale, bias, runningMean, runningVar *Value, o BatchNormOpts) (y, newMean, newVar *Value) {
	b := x.b
	b.checkBN(x, scale, bias, runningMean, runningVar)
	c := outSpec{x.dtype, runningMean.shape}
	outs := b.addNode("BatchNormalization", []*Value{x, scale, bias, runningMean, runningVar}, o.attrs(true),
		outSpec{x.dtype, x.shape}, c, c)
	return outs[0], outs[1], outs[2]
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
