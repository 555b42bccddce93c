package graphs

import (
	"fmt"
	"slices"

	"github.com/taet-ml/taet/onnx"
)

// A GradFunc returns, for each input of n, the gradient of the scalar being
// differentiated with respect to that input, or nil where none flows.
// gy[i] is the incoming gradient of n's output i (nil if output i does not
// reach the loss). Rules build their result with the ordinary op
// constructors and must emit only ai.onnx operators.
//
// Grad checks every result: len(result) == len(n.Inputs()), and each non-nil
// result has exactly its input's shape and dtype. A violation is a bug in the
// rule and panics with a *BuildError naming the node.
type GradFunc func(n *Node, gy []*Value) []*Value

// GradKind says how Grad treats an op.
type GradKind int

const (
	// GradUnknown: no decision was registered; Grad through it is an error.
	GradUnknown GradKind = iota
	// GradRule: a GradFunc computes the input gradients.
	GradRule
	// GradNone: no gradient flows through the op (comparisons, Shape, ArgMax, …).
	GradNone
	// GradNotDifferentiable: asking for a gradient through the op is an error.
	GradNotDifferentiable
)

func (k GradKind) String() string {
	return [...]string{"unknown", "rule", "none", "not-differentiable"}[k]
}

var (
	gradRules = map[string]GradFunc{}
	gradKinds = map[string]GradKind{}
)

func registerGrad(op string, f GradFunc) { gradRules[op], gradKinds[op] = f, GradRule }

func registerNoGrad(ops ...string) {
	for _, op := range ops {
		gradKinds[op] = GradNone
	}
}

func registerNotDifferentiable(ops ...string) {
	for _, op := range ops {
		gradKinds[op] = GradNotDifferentiable
	}
}

// OpGradKind returns how Grad treats op.
func OpGradKind(op string) GradKind { return gradKinds[op] }

// GradOption changes how Grad behaves.
type GradOption func(*gradConfig)

type gradConfig struct{ allowDisconnected bool }

// AllowDisconnected makes Grad return zeros for a value the loss does not
// depend on, instead of panicking.
func AllowDisconnected() GradOption { return func(c *gradConfig) { c.allowDisconnected = true } }

// gradState is the state of one Grad call, reachable from the builder while
// rules run (for Node.IfNeeded).
type gradState struct {
	needs map[*Value]bool // the value depends on some wrt value through differentiable ops
}

// IfNeeded returns f() when input i of n needs a gradient in the running
// Grad call, else nil. Rules use it so that one forward graph serves both
// parameter gradients and input gradients without dead nodes.
func (n *Node) IfNeeded(i int, f func() *Value) *Value {
	if in := n.inputs[i]; in == nil || n.b.grad == nil || !n.b.grad.needs[in] {
		return nil
	}
	return f()
}

// Grad returns the gradients of loss (a float32 scalar, or a 1-D value of
// size 1) with respect to each of wrt, by reverse-mode differentiation:
// every node on a path from some wrt value to loss gets its rule applied in
// reverse creation order, and gradients reaching a value along several paths
// are summed. Rule nodes are named "<node>_Grad/…", the summed gradient of
// value v "<v>_grad…" (see Builder.Output for exposing them).
//
// Grad panics with a *BuildError when loss is not a float32 scalar, when a
// wrt value is not float32, when a node on the path has no gradient rule or
// is not differentiable (naming the node), and when loss does not depend on
// a wrt value, unless AllowDisconnected is given.
func Grad(loss *Value, wrt []*Value, opts ...GradOption) []*Value {
	b := loss.b
	var cfg gradConfig
	for _, o := range opts {
		o(&cfg)
	}
	if loss.dtype != onnx.Float || loss.Size() != 1 || loss.Rank() > 1 {
		panic(&BuildError{Op: "Grad", Err: fmt.Errorf("loss %s must be a float32 scalar", loss)})
	}
	b.check(wrt...)
	st := &gradState{needs: map[*Value]bool{}}
	for _, v := range wrt {
		if v.dtype != onnx.Float {
			panic(&BuildError{Op: "Grad", Err: fmt.Errorf("cannot differentiate with respect to %s: not float32", v)})
		}
		st.needs[v] = true
	}
	// Forward: which values depend on wrt through ops that pass gradients.
	for _, n := range b.nodes {
		if n.stop || OpGradKind(n.op) == GradNone && n.custom == nil {
			continue
		}
		if slices.ContainsFunc(n.inputs, func(v *Value) bool { return v != nil && st.needs[v] }) {
			for _, o := range n.outputs {
				st.needs[o] = true
			}
		}
	}
	// Backward: which of those the loss depends on.
	useful := map[*Node]bool{}
	var mark func(v *Value)
	mark = func(v *Value) {
		if v == nil || !st.needs[v] || v.node == nil || useful[v.node] {
			return
		}
		useful[v.node] = true
		for _, in := range v.node.inputs {
			mark(in)
		}
	}
	mark(loss)

	prevScope, prevGrad := b.scope, b.grad
	b.grad = st
	defer func() { b.scope, b.grad = prevScope, prevGrad }()

	grads := map[*Value]*Value{}
	b.scope = []string{loss.name + "_Grad"}
	grads[loss] = Expand(b.Scalar(1), loss.shape...)
	for i := len(b.nodes) - 1; i >= 0; i-- {
		n := b.nodes[i]
		if !useful[n] {
			continue
		}
		gy := make([]*Value, len(n.outputs))
		any := false
		for j, o := range n.outputs {
			gy[j] = grads[o]
			any = any || gy[j] != nil
		}
		if !any {
			continue
		}
		b.scope = []string{n.name + "_Grad"}
		gx := n.applyRule(gy)
		for j, g := range gx {
			in := n.inputs[j]
			if g == nil || in == nil || !st.needs[in] {
				continue
			}
			if prev := grads[in]; prev != nil {
				b.scope = []string{in.name + "_grad"}
				g = Add(prev, g)
			}
			grads[in] = g
		}
	}
	out := make([]*Value, len(wrt))
	for i, v := range wrt {
		out[i] = grads[v]
		if out[i] != nil {
			continue
		}
		if !cfg.allowDisconnected {
			panic(&BuildError{Op: "Grad", Err: fmt.Errorf("loss %s does not depend on %s (pass graphs.AllowDisconnected() for zeros)", loss.name, v.name)})
		}
		b.scope = []string{v.name + "_grad"}
		out[i] = Expand(b.Scalar(0), v.shape...)
	}
	return out
}

// applyRule runs n's gradient rule and checks its result.
func (n *Node) applyRule(gy []*Value) []*Value {
	fail := func(format string, args ...any) {
		panic(&BuildError{Node: n.name, Op: n.op, Err: fmt.Errorf(format, args...)})
	}
	var gx []*Value
	switch {
	case n.custom != nil:
		gx = []*Value{n.custom(n.inputs[0], gy[0])}
	default:
		switch OpGradKind(n.op) {
		case GradUnknown:
			fail("no gradient rule for %s", n.op)
		case GradNotDifferentiable:
			fail("%s is not differentiable, but the loss depends on it through a value being differentiated", n.op)
		}
		gx = gradRules[n.op](n, gy)
	}
	if len(gx) != len(n.inputs) {
		fail("gradient rule returned %d gradients for %d inputs", len(gx), len(n.inputs))
	}
	for i, g := range gx {
		if g == nil {
			continue
		}
		in := n.inputs[i]
		if g.dtype != in.dtype || !slices.Equal(g.shape, in.shape) {
			fail("gradient rule returned %s for input %s", g, in)
		}
	}
	return gx
}

// StopGradient returns x unchanged, but no gradient flows back through it
// (an Identity node the reverse walk skips). The adversarial example of an
// outer training step is built this way.
func StopGradient(x *Value) *Value {
	y := Identity(x)
	y.node.stop = true
	return y
}

// WithGrad returns x unchanged in the forward pass, but its gradient is
// grad(x, gy) instead of gy: a custom or straight-through gradient. grad
// must return a value of x's shape and type.
func WithGrad(x *Value, grad func(x, gy *Value) *Value) *Value {
	y := Identity(x)
	y.node.custom = grad
	return y
}
