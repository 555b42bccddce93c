package graphs

import (
	"github.com/taet-ml/taet/onnx"
)

func init() {
	registerOps(map[string]int{ // op_type: the version emitted (since_version at the model opset)
		"Add": 14, "Sub": 14, "Mul": 14, "Div": 14, "Pow": 15, "Max": 13, "Min": 13, "Neg": 13,
		"Abs": 13, "Sign": 13, "Exp": 13, "Log": 13, "Sqrt": 13, "Reciprocal": 13, "Relu": 14,
		"Sigmoid": 13, "Tanh": 13, "Erf": 13, "Where": 16, "Equal": 13, "Less": 13, "Greater": 13,
		"Not": 1, "Cast": 13, "Clip": 13, "Identity": 16, "Constant": 13,
	})
}

// unary adds a one-input node whose output has x's type and shape.
func (b *Builder) unary(op string, x *Value, attrs ...attr) *Value {
	return b.add1(op, []*Value{x}, attrs, outSpec{x.dtype, x.shape})
}

// binary adds a two-input node with ONNX multidirectional broadcasting; both
// inputs must have the same element type, which the output gets.
func (b *Builder) binary(op string, x, y *Value) *Value {
	b.sameDType(op, x, y)
	if x.dtype == onnx.Bool {
		b.fail(op, "inputs %s and %s must be numbers, not bool", x, y)
	}
	return b.add1(op, []*Value{x, y}, nil, outSpec{x.dtype, b.broadcast(op, x.shape, y.shape)})
}

// compare adds a broadcasting comparison with a bool output.
func (b *Builder) compare(op string, x, y *Value) *Value {
	b.sameDType(op, x, y)
	if x.dtype == onnx.Bool && op != "Equal" {
		b.fail(op, "inputs %s and %s must be numbers, not bool", x, y)
	}
	return b.add1(op, []*Value{x, y}, nil, outSpec{onnx.Bool, b.broadcast(op, x.shape, y.shape)})
}

func (b *Builder) sameDType(op string, vs ...*Value) {
	for _, v := range vs[1:] {
		if v.dtype != vs[0].dtype {
			b.fail(op, "inputs %s and %s have different element types", vs[0], v)
		}
	}
}

// requireFloat panics unless every v is float32.
func (b *Builder) requireFloat(op string, vs ...*Value) {
	for _, v := range vs {
		if v.dtype != onnx.Float {
			b.fail(op, "input %s must be float32", v)
		}
	}
}

// Add returns x+y with broadcasting (ONNX Add-14).
func Add(x, y *Value) *Value { return x.b.binary("Add", x, y) }

// Sub returns x-y with broadcasting (ONNX Sub-14).
func Sub(x, y *Value) *Value { return x.b.binary("Sub", x, y) }

// Mul returns x*y with broadcasting (ONNX Mul-14).
func Mul(x, y *Value) *Value { return x.b.binary("Mul", x, y) }

// Div returns x/y with broadcasting (ONNX Div-14).
func Div(x, y *Value) *Value { return x.b.binary("Div", x, y) }

// Pow returns x^y with broadcasting (ONNX Pow-15), float32 only.
func Pow(x, y *Value) *Value {
	x.b.requireFloat("Pow", x, y)
	return x.b.binary("Pow", x, y)
}

// Max returns the elementwise maximum of x and y with broadcasting (ONNX Max-13).
func Max(x, y *Value) *Value { return x.b.binary("Max", x, y) }

// Min returns the elementwise minimum of x and y with broadcasting (ONNX Min-13).
func Min(x, y *Value) *Value { return x.b.binary("Min", x, y) }

// Neg returns -x (ONNX Neg-13).
func Neg(x *Value) *Value { return x.b.unary("Neg", x) }

// Abs returns |x| (ONNX Abs-13).
func Abs(x *Value) *Value { return x.b.unary("Abs", x) }

// Sign returns -1, 0 or 1 by the sign of x (ONNX Sign-13).
func Sign(x *Value) *Value { return x.b.unary("Sign", x) }

// Exp returns e^x (ONNX Exp-13).
func Exp(x *Value) *Value { x.b.requireFloat("Exp", x); return x.b.unary("Exp", x) }

// Log returns the natural logarithm of x (ONNX Log-13).
func Log(x *Value) *Value { x.b.requireFloat("Log", x); return x.b.unary("Log", x) }

// Sqrt returns √x (ONNX Sqrt-13).
func Sqrt(x *Value) *Value { x.b.requireFloat("Sqrt", x); return x.b.unary("Sqrt", x) }

// Reciprocal returns 1/x (ONNX Reciprocal-13).
func Reciprocal(x *Value) *Value {
	x.b.requireFloat("Reciprocal", x)
	return x.b.unary("Reciprocal", x)
}

// Relu returns max(x, 0) (ONNX Relu-14), float32 only: ONNX Runtime has
// no integer Relu-14 kernel.
func Relu(x *Value) *Value { x.b.requireFloat("Relu", x); return x.b.unary("Relu", x) }

// Sigmoid returns 1/(1+e^-x) (ONNX Sigmoid-13).
func Sigmoid(x *Value) *Value { x.b.requireFloat("Sigmoid", x); return x.b.unary("Sigmoid", x) }

// Tanh returns the hyperbolic tangent of x (ONNX Tanh-13).
func Tanh(x *Value) *Value { x.b.requireFloat("Tanh", x); return x.b.unary("Tanh", x) }

// Erf returns the error function of x (ONNX Erf-13).
func Erf(x *Value) *Value { x.b.requireFloat("Erf", x); return x.b.unary("Erf", x) }

// Identity returns x unchanged (ONNX Identity-16).
func Identity(x *Value) *Value { return x.b.unary("Identity", x) }

// Not returns the logical negation of a bool x (ONNX Not-1).
func Not(x *Value) *Value {
	if x.dtype != onnx.Bool {
		x.b.fail("Not", "input %s must be bool", x)
	}
	return x.b.unary("Not", x)
}

// Equal returns x == y elementwise as bool, with broadcasting (ONNX Equal-13).
func Equal(x, y *Value) *Value { return x.b.compare("Equal", x, y) }

// Less returns x < y elementwise as bool, with broadcasting (ONNX Less-13).
func Less(x, y *Value) *Value { return x.b.compare("Less", x, y) }

// Greater returns x > y elementwise as bool, with broadcasting (ONNX Greater-13).
func Greater(x, y *Value) *Value { return x.b.compare("Greater", x, y) }

// Where returns x where cond is true and y elsewhere, all three broadcast
// together (ONNX Where-16). cond is bool; x and y share an element type.
func Where(cond, x, y *Value) *Value {
	b := cond.b
	if cond.dtype != onnx.Bool {
		b.fail("Where", "condition %s must be bool", cond)
	}
	b.sameDType("Where", x, y)
	shape := b.broadcast("Where", b.broadcast("Where", cond.shape, x.shape), y.shape)
	return b.add1("Where", []*Value{cond, x, y}, nil, outSpec{x.dtype, shape})
}

// Cast converts x to element type to (ONNX Cast-13).
func Cast(x *Value, to onnx.DType) *Value {
	return x.b.add1("Cast", []*Value{x}, []attr{attrInt("to", int64(to))}, outSpec{to, x.shape})
}

// Clip returns x limited to [lo, hi] (ONNX Clip-13, bounds as scalar constants).
func Clip(x *Value, lo, hi float32) *Value {
	b := x.b
	b.requireFloat("Clip", x)
	if lo > hi {
		b.fail("Clip", "lower bound %v exceeds upper bound %v", lo, hi)
	}
	return b.add1("Clip", []*Value{x, b.Scalar(lo), b.Scalar(hi)}, nil, outSpec{x.dtype, x.shape})
}

// Constant returns a float32 constant of the given shape (ONNX Constant-13).
// data is copied.
func (b *Builder) Constant(shape []int64, data []float32) *Value {
	if int64(len(data)) != onnx.Numel(shape) {
		b.fail("Constant", "shape %v needs %d values, got %d", shape, onnx.Numel(shape), len(data))
	}
	name := b.peekName("Constant")
	return b.add1("Constant", nil, []attr{attrTensor("value", floatTensor(name, shape, data))}, outSpec{onnx.Float, shape})
}

// ConstantInt64 returns an int64 constant of the given shape (ONNX Constant-13).
func (b *Builder) ConstantInt64(shape []int64, data []int64) *Value {
	if int64(len(data)) != onnx.Numel(shape) {
		b.fail("Constant", "shape %v needs %d values, got %d", shape, onnx.Numel(shape), len(data))
	}
	name := b.peekName("Constant")
	return b.add1("Constant", nil, []attr{attrTensor("value", int64Tensor(name, shape, data))}, outSpec{onnx.Int64, shape})
}

// Scalar returns a float32 scalar constant (shape []).
func (b *Builder) Scalar(v float32) *Value { return b.Constant(nil, []float32{v}) }

// ints returns a 1-D int64 constant, the form ONNX takes axes and shapes in.
func (b *Builder) ints(vs []int64) *Value { return b.ConstantInt64([]int64{int64(len(vs))}, vs) }

func init() {
	registerGrad("Add", gradAdd)
	registerGrad("Sub", gradSub)
	registerGrad("Mul", gradMul)
	registerGrad("Div", gradDiv)
	registerGrad("Pow", gradPow)
	registerGrad("Max", gradMax)
	registerGrad("Min", gradMin)
	registerGrad("Neg", gradNeg)
	registerGrad("Abs", gradAbs)
	registerGrad("Exp", gradExp)
	registerGrad("Log", gradLog)
	registerGrad("Sqrt", gradSqrt)
	registerGrad("Reciprocal", gradReciprocal)
	registerGrad("Relu", gradRelu)
	registerGrad("Sigmoid", gradSigmoid)
	registerGrad("Tanh", gradTanh)
	registerGrad("Erf", gradErf)
	registerGrad("Identity", gradIdentity)
	registerGrad("Where", gradWhere)
	registerGrad("Cast", gradCast)
	registerGrad("Clip", gradClip)
	// Sign is piecewise constant: its derivative is 0 wherever it exists.
	registerNoGrad("Sign", "Equal", "Less", "Greater", "Not", "Constant")
}

// zerosLike returns zeros of v's shape (a broadcast scalar, not a stored tensor).
func zerosLike(v *Value) *Value { return Expand(v.b.Scalar(0), v.shape...) }

// gradAdd: d(x+y) = dx + dy, each un-broadcast to its input's shape.
func gradAdd(n *Node, gy []*Value) []*Value {
	x, y, g := n.Input(0), n.Input(1), gy[0]
	return []*Value{
		n.IfNeeded(0, func() *Value { return Unbroadcast(g, x.shape) }),
		n.IfNeeded(1, func() *Value { return Unbroadcast(g, y.shape) }),
	}
}

// gradSub: d(x−y)/dx = 1, d(x−y)/dy = −1.
func gradSub(n *Node, gy []*Value) []*Value {
	x, y, g := n.Input(0), n.Input(1), gy[0]
	return []*Value{
		n.IfNeeded(0, func() *Value { return Unbroadcast(g, x.shape) }),
		n.IfNeeded(1, func() *Value { return Unbroadcast(Neg(g), y.shape) }),
	}
}

// gradMul: d(x·y)/dx = y, d(x·y)/dy = x.
func gradMul(n *Node, gy []*Value) []*Value {
	x, y, g := n.Input(0), n.Input(1), gy[0]
	return []*Value{
		n.IfNeeded(0, func() *Value { return Unbroadcast(Mul(g, y), x.shape) }),
		n.IfNeeded(1, func() *Value { return Unbroadcast(Mul(g, x), y.shape) }),
	}
}

// gradDiv: d(x/y)/dx = 1/y, d(x/y)/dy = −x/y² = −out/y.
func gradDiv(n *Node, gy []*Value) []*Value {
	x, y, g, out := n.Input(0), n.Input(1), gy[0], n.Output(0)
	return []*Value{
		n.IfNeeded(0, func() *Value { return Unbroadcast(Div(g, y), x.shape) }),
		n.IfNeeded(1, func() *Value { return Unbroadcast(Neg(Div(Mul(g, out), y)), y.shape) }),
	}
}

// gradPow: d(x^y)/dx = y·x^(y−1), d(x^y)/dy = x^y·ln x (defined for x > 0).
func gradPow(n *Node, gy []*Value) []*Value {
	x, y, g, out := n.Input(0), n.Input(1), gy[0], n.Output(0)
	b := n.b
	return []*Value{
		n.IfNeeded(0, func() *Value { return Unbroadcast(Mul(g, Mul(y, Pow(x, Sub(y, b.Scalar(1))))), x.shape) }),
		n.IfNeeded(1, func() *Value { return Unbroadcast(Mul(g, Mul(out, Log(x))), y.shape) }),
	}
}

// gradMax: the gradient goes to x where x ≥ y, else to y (ties go to the first operand).
func gradMax(n *Node, gy []*Value) []*Value {
	return gradSelect(n, gy[0], Not(Less(n.Input(0), n.Input(1))))
}

// gradMin: the gradient goes to x where x ≤ y, else to y (ties go to the first operand).
func gradMin(n *Node, gy []*Value) []*Value {
	return gradSelect(n, gy[0], Not(Greater(n.Input(0), n.Input(1))))
}

// gradSelect sends g to input 0 where first is true and to input 1 elsewhere.
func gradSelect(n *Node, g, first *Value) []*Value {
	x, y := n.Input(0), n.Input(1)
	zero := n.b.Scalar(0)
	return []*Value{
		n.IfNeeded(0, func() *Value { return Unbroadcast(Where(first, g, zero), x.shape) }),
		n.IfNeeded(1, func() *Value { return Unbroadcast(Where(first, zero, g), y.shape) }),
	}
}

// gradNeg: d(−x) = −1.
func gradNeg(n *Node, gy []*Value) []*Value { return []*Value{Neg(gy[0])} }

// gradAbs: d|x|/dx = sign(x), with |·|'(0) = 0.
func gradAbs(n *Node, gy []*Value) []*Value { return []*Value{Mul(gy[0], Sign(n.Input(0)))} }

// gradExp: d eˣ/dx = eˣ, reusing the output.
func gradExp(n *Node, gy []*Value) []*Value { return []*Value{Mul(gy[0], n.Output(0))} }

// gradLog: d ln x/dx = 1/x.
func gradLog(n *Node, gy []*Value) []*Value { return []*Value{Div(gy[0], n.Input(0))} }

// gradSqrt: d√x/dx = 1/(2√x), reusing the output.
func gradSqrt(n *Node, gy []*Value) []*Value {
	return []*Value{Div(Mul(gy[0], n.b.Scalar(0.5)), n.Output(0))}
}

// gradReciprocal: d(1/x)/dx = −1/x² = −out².
func gradReciprocal(n *Node, gy []*Value) []*Value {
	out := n.Output(0)
	return []*Value{Neg(Mul(gy[0], Mul(out, out)))}
}

// gradRelu: d relu(x)/dx = 1 where x > 0, else 0 (Relu'(0) = 0). The mask is
// taken from the output (y > 0 exactly where x > 0), which the next layer
// keeps for its own gradient anyway, so the input need not outlive the
// forward pass.
func gradRelu(n *Node, gy []*Value) []*Value {
	y := n.Output(0)
	dx := Where(Greater(y, zeroOf(y)), gy[0], n.b.Scalar(0))
	n.b.rgrads = append(n.b.rgrads, [3]*Value{dx, y, gy[0]}) // for lowering (Model.ReluGrads)
	return []*Value{dx}
}

// zeroOf returns a scalar 0 of v's element type.
func zeroOf(v *Value) *Value {
	if v.dtype == onnx.Int64 {
		return v.b.ConstantInt64(nil, []int64{0})
	}
	return v.b.Scalar(0)
}

// gradSigmoid: dσ(x)/dx = σ(x)·(1 − σ(x)), reusing the output.
func gradSigmoid(n *Node, gy []*Value) []*Value {
	out := n.Output(0)
	return []*Value{Mul(gy[0], Mul(out, Sub(n.b.Scalar(1), out)))}
}

// gradTanh: d tanh(x)/dx = 1 − tanh²(x), reusing the output.
func gradTanh(n *Node, gy []*Value) []*Value {
	out := n.Output(0)
	return []*Value{Mul(gy[0], Sub(n.b.Scalar(1), Mul(out, out)))}
}

// gradErf: d erf(x)/dx = 2/√π · e^(−x²).
func gradErf(n *Node, gy []*Value) []*Value {
	x := n.Input(0)
	return []*Value{Mul(gy[0], Mul(n.b.Scalar(1.1283791670955126), Exp(Neg(Mul(x, x)))))}
}

// gradIdentity: the gradient passes through.
func gradIdentity(n *Node, gy []*Value) []*Value { return []*Value{gy[0]} }

// gradWhere: the gradient goes to x where cond holds and to y elsewhere; none to cond.
func gradWhere(n *Node, gy []*Value) []*Value {
	c, x, y, g := n.Input(0), n.Input(1), n.Input(2), gy[0]
	zero := n.b.Scalar(0)
	return []*Value{
		nil,
		n.IfNeeded(1, func() *Value { return Unbroadcast(Where(c, g, zero), x.shape) }),
		n.IfNeeded(2, func() *Value { return Unbroadcast(Where(c, zero, g), y.shape) }),
	}
}

// gradCast: a float-to-float cast passes the gradient (cast back); none flows to integers.
func gradCast(n *Node, gy []*Value) []*Value {
	if n.Input(0).dtype != onnx.Float {
		return []*Value{nil}
	}
	return []*Value{Cast(gy[0], onnx.Float)}
}

// gradClip: d clip(x, lo, hi)/dx = 1 for lo ≤ x ≤ hi (bounds included, as
// PyTorch's clamp), else 0. The bounds are constants and get no gradient.
func gradClip(n *Node, gy []*Value) []*Value {
	x, lo, hi := n.Input(0), n.Input(1), n.Input(2)
	zero := n.b.Scalar(0)
	inside := Where(Less(x, lo), zero, Where(Greater(x, hi), zero, gy[0]))
	return []*Value{inside, nil, nil}
}
