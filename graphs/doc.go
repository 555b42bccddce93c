// Package graphs builds ONNX graphs in Go and differentiates them.
//
// # Building graphs
//
// A Builder accumulates nodes; Build runs a function on a new one and
// returns the finished Model. Values are the edges: graph inputs
// (Builder.Input), initializers (Builder.Initializer), constants
// (Builder.Constant, Builder.Scalar) and node outputs. Op constructors are
// named after the ONNX op they emit (Add, Conv, ReduceSum, …), take their
// attributes as typed option structs (ConvOpts, PoolOpts, GemmOpts, …) and
// shape-like operands as Go slices, which become constants. Graph outputs
// are declared with Builder.Output. Finish drops nodes no output depends on.
//
// Networks take their parameters from Vars, which names them as torchvision
// does and decides whether they are graph inputs (training, attacks) or
// initializers (evaluation, deployment), and whether BatchNormalization uses
// batch or running statistics. TrainStepGraph, InputGradGraph and EvalGraph
// assemble the three graphs taet runs from any Net and LossHead; a
// PairHead makes the train step paired (TRADES, MART, RoBal): it takes the
// adversarial batch x_adv beside x and runs the network on both, sharing
// the parameters and chaining the running statistics from pass to pass.
// A Net may declare the penultimate features of its logits
// (WithFeatures), which a LossHead reads back with Features (REAT's
// tail-feature alignment); they exist while the graph is built only.
//
// # Static shapes
//
// Every value has a static element type and shape, inferred by its
// constructor, so later code and error messages know them. One graph serves
// one batch size: the trainer builds one per batch size it runs, pads a
// short final evaluation batch and drops a short final training batch
// (package data); the exported deployment graph rewrites the batch
// dimension to a symbolic one afterwards (package export).
//
// # Naming
//
// Names are deterministic: a node is "<scope path>/<Op>_<k>"
// ("resnet18/layer1.0/conv1/Conv_0", see Builder.WithScope), its first
// output has the node's name and further outputs ":<i>" appended. Nodes
// added by a gradient rule are scoped "<node>_Grad/", summed gradients
// "<value>_grad/". Attributes are serialised sorted by name and models with
// deterministic protobuf marshalling, so the same code gives byte-identical
// files.
//
// # Opset
//
// Models are ai.onnx opset 17 (IR 8), which Debian's python3-onnx checks and
// ONNX Runtime 1.29 runs. A model that uses Col2Im, defined from opset 18,
// is stamped 18; ReduceMean and ReduceMax then take their axes as an input,
// which Finish arranges. OpVersion gives the version of each op emitted.
//
// # Error handling
//
// Constructors panic with a *BuildError naming the node (the name it would
// have had) and the op when shapes, types or attributes are wrong; Build
// recovers it and returns it as an error. Any other panic is a bug.
//
// # Automatic differentiation
//
// Grad(loss, wrt) differentiates a float32 scalar with respect to any
// values by reverse-mode accumulation: it finds the nodes on a path from a
// wrt value to the loss, walks them in reverse creation order and applies
// each op's gradient rule (a GradFunc, written right below the op's
// constructor), summing gradients that reach a value along several paths.
// Rules emit only standard ai.onnx ops, check nothing themselves (Grad
// checks every result's shape and type) and compute an input's gradient
// only when Node.IfNeeded says it is needed, so one forward graph serves
// parameter gradients and input gradients without dead nodes.
//
// Every op has a decision: a rule (registerGrad), no gradient
// (registerNoGrad: comparisons, Shape, ArgMax, Sign, constants) or not
// differentiable (registerNotDifferentiable: OneHot, whose float values no
// rule handles; asking is an error naming the node). `taetctl ops` lists them. StopGradient blocks a gradient,
// WithGrad replaces one.
//
// Conventions at kinks, tested away from ties: Relu'(0) = 0; |x|'(0) = 0;
// Clip passes the gradient at its bounds (as PyTorch's clamp); Max and Min
// send a tie to the first operand; MaxPool sends it to the element ONNX
// Runtime's indices name (the first in the window); ReduceMax splits it
// evenly among the maxima. Pad has a rule for constant mode only.
//
// Rules that matter for speed were measured (BenchmarkConvGrad): a Conv's
// input gradient is a Conv of the output gradient with flipped, transposed
// weights when the stride is 1 (a ConvTranspose otherwise), its weight
// gradient one Gemm per kernel position over strided Slices of the input
// with the batch in the Gemm's inner dimension.
package graphs
