// Package ortoracle backs the attacks' Oracle interface with ONNX Runtime:
// Set builds input-gradient sessions for a network with its parameters
// stored in the graphs (BatchNorm in inference mode), one per attack loss;
// Logits wraps an exported x → logits ONNX file for gradient-free attacks.
package ortoracle

import (
	"fmt"
	"strings"
	"time"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortsession"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/onnx/ort"
)

// oracle is an attacks.Oracle over an input-gradient session: it copies
// the batch into the session's input tensors, runs it and copies logits
// and x_grad out.
type oracle struct {
	s         *ortsession.Session
	fwd       *ortsession.Session                 // x → logits only, for calls without a gradient; or nil
	newFwd    func() (*ortsession.Session, error) // builds fwd on the first such call
	x         *ort.Tensor[float32]
	y, target *ort.Tensor[int64]   // target is nil for untargeted losses
	ref       *ort.Tensor[float32] // reference logits of the kl loss, or nil
	refSet    bool
	classes   int
	loss      string
}

var _ attacks.Oracle = (*oracle)(nil)

func (o *oracle) Batch() int   { return len(o.y.Data()) }
func (o *oracle) Classes() int { return o.classes }
func (o *oracle) Loss() string { return o.loss }

func (o *oracle) Eval(x []float32, y, target []int64, logits, grad []float32) error {
	if (target == nil) != (o.target == nil) {
		return fmt.Errorf("ortoracle: oracle for loss %s: targets given %v, expected %v", o.loss, target != nil, o.target != nil)
	}
	copy(o.x.Data(), x)
	copy(o.y.Data(), y)
	if target != nil {
		copy(o.target.Data(), target)
	}
	s := o.s
	if grad == nil {
		if o.fwd == nil {
			var err error
			if o.fwd, err = o.newFwd(); err != nil {
				return err
			}
		}
		s = o.fwd
	}
	if err := s.Run(); err != nil {
		return err
	}
	copy(logits, s.Output("logits"))
	if grad != nil {
		copy(grad, o.s.Output("x_grad"))
	}
	return nil
}

func (o *oracle) close() {
	o.s.Close()
	o.fwd.Close()
	o.x.Close()
	o.y.Close()
	if o.target != nil {
		o.target.Close()
	}
	if o.ref != nil {
		o.ref.Close()
	}
}

// refOracle is the oracle of the "kl" loss: its graph also takes the
// reference logits (losses.CleanLogitsInput, the oracle's ref), which
// SetReference fills.
type refOracle struct{ *oracle }

var _ attacks.ReferenceOracle = refOracle{}

func (o refOracle) SetReference(logits []float32) {
	copy(o.ref.Data(), logits)
	o.refSet = true
}

// Eval is oracle.Eval; it fails when asked for a gradient before the
// reference is set.
func (o refOracle) Eval(x []float32, y, target []int64, logits, grad []float32) error {
	if grad != nil && !o.refSet {
		return fmt.Errorf("ortoracle: oracle for loss %s: no reference logits set (attacks.ReferenceOracle)", o.loss)
	}
	return o.oracle.Eval(x, y, target, logits, grad)
}

// LossHead returns the summed per-sample loss head an attack oracle
// differentiates (attacks.Oracle's contract), and whether it declares the
// target input. The "kl" head declares the reference logits input
// instead (losses.KLHead).
func LossHead(loss string, kappa float32) (graphs.LossHead, bool, error) {
	switch loss {
	case "ce":
		return func(l, y *graphs.Value) *graphs.Value {
			return graphs.ReduceSum(losses.CrossEntropyPerSample(l, y), nil, false)
		}, false, nil
	case "kl":
		return losses.KLHead(), false, nil
	case "cw", "dlr", "dlr-targeted", "margin-targeted":
		head, err := losses.ByName(loss, losses.Options{Kappa: kappa})
		return head, strings.HasSuffix(loss, "-targeted"), err
	}
	return nil, false, fmt.Errorf("no attack loss %q", loss)
}

// Set builds attack oracles for a fixed network: parameters stored in the
// graphs (the runtime's fastest path), BatchNorm in inference mode.
// Oracles are built on first use and cached; Close releases them.
type Set struct {
	net     graphs.Net
	values  map[string][]float32
	image   []int64
	batch   int
	classes int
	kappa   float32
	opts    ort.Options
	cache   map[string]*oracle
}

// NewSet returns a Set for net with parameter values, images [C, H, W],
// batches of batch and classes logits; kappa is the CW confidence bound
// into the "cw" oracle.
func NewSet(net graphs.Net, values map[string][]float32, image []int64, batch, classes int, kappa float64, opts ort.Options) *Set {
	return &Set{net: net, values: values, image: image, batch: batch, classes: classes, kappa: float32(kappa), opts: opts, cache: map[string]*oracle{}}
}

// Get returns the oracle for an attack loss: ce, cw, dlr, dlr-targeted,
// margin-targeted or kl (an attacks.ReferenceOracle). It has the signature
// of attacks.OracleSet.
func (s *Set) Get(loss string) (_ attacks.Oracle, err error) {
	if o, ok := s.cache[loss]; ok {
		return o.api(), nil
	}
	head, targeted, err := LossHead(loss, s.kappa)
	if err != nil {
		return nil, err
	}
	g, err := graphs.InputGradGraph(graphs.GraphSpec{Name: "attack-" + loss, Batch: int64(s.batch), Image: s.image, Net: s.net, Loss: head}, s.values)
	if err != nil {
		return nil, err
	}
	o := &oracle{classes: s.classes, loss: loss}
	if o.x, err = ort.NewZeros[float32](int64(s.batch), s.image[0], s.image[1], s.image[2]); err != nil {
		return nil, err
	}
	if o.y, err = ort.NewZeros[int64](int64(s.batch)); err != nil {
		o.x.Close()
		return nil, err
	}
	defer func() {
		if err != nil {
			o.close()
		}
	}()
	inputs := []ort.Value{o.x, o.y}
	if targeted {
		if o.target, err = ort.NewZeros[int64](int64(s.batch)); err != nil {
			return nil, err
		}
		inputs = append(inputs, o.target)
	}
	if loss == "kl" {
		if o.ref, err = ort.NewZeros[float32](int64(s.batch), int64(s.classes)); err != nil {
			return nil, err
		}
		inputs = append(inputs, o.ref)
	}
	if o.s, err = ortsession.New(g.Model, s.opts, inputs); err != nil {
		return nil, err
	}
	// Gradient-free queries (Square, the clean pass, verification) skip the
	// backward pass, through a logits-only session built when first needed
	// (training's PGD never needs it, so it never pays for it).
	o.newFwd = func() (*ortsession.Session, error) {
		ev, err := graphs.EvalGraph(graphs.GraphSpec{Name: "logits", Batch: int64(s.batch), Image: s.image, Net: s.net}, s.values)
		if err != nil {
			return nil, err
		}
		return ortsession.New(ev.Model, s.opts, []ort.Value{o.x})
	}
	s.cache[loss] = o
	return o.api(), nil
}

// api returns o as the attacks package sees it: a ReferenceOracle when
// its loss takes reference logits.
func (o *oracle) api() attacks.Oracle {
	if o.ref != nil {
		return refOracle{o}
	}
	return o
}

// RuntimeTime returns the time spent creating and running the oracles' sessions.
func (s *Set) RuntimeTime() time.Duration {
	var d time.Duration
	for _, o := range s.cache {
		d += o.s.RuntimeTime()
		if o.fwd != nil {
			d += o.fwd.RuntimeTime()
		}
	}
	return d
}

// Close releases every oracle built.
func (s *Set) Close() {
	for _, o := range s.cache {
		o.close()
	}
	s.cache = map[string]*oracle{}
}

// Logits is an attacks.Oracle over an x → logits ONNX model (an export):
// logits only, so only gradient-free attacks can use it.
type Logits struct {
	s       *ortsession.Session
	x       *ort.Tensor[float32]
	classes int
}

var _ attacks.Oracle = (*Logits)(nil)

// NewLogits opens model (input "x" [N, C, H, W] with a dynamic or fixed
// batch, output "logits" [N, classes]) for batches of batch images of
// shape image [C, H, W].
func NewLogits(model []byte, image []int64, batch, classes int, opts ort.Options) (*Logits, error) {
	x, err := ort.NewZeros[float32](int64(batch), image[0], image[1], image[2])
	if err != nil {
		return nil, err
	}
	s, err := ortsession.NewFromBytes(model, []string{"x"}, []ort.Value{x},
		[]ortsession.Output{{Name: "logits", Shape: []int64{int64(batch), int64(classes)}}}, opts)
	if err != nil {
		x.Close()
		return nil, err
	}
	return &Logits{s: s, x: x, classes: classes}, nil
}

func (o *Logits) Batch() int   { return int(o.x.Shape()[0]) }
func (o *Logits) Classes() int { return o.classes }
func (o *Logits) Loss() string { return "ce" }

// Eval writes the logits at x; it fails if asked for a gradient.
func (o *Logits) Eval(x []float32, _, _ []int64, logits, grad []float32) error {
	if grad != nil {
		return fmt.Errorf("ortoracle: an exported ONNX file gives logits only, no input gradients")
	}
	copy(o.x.Data(), x)
	if err := o.s.Run(); err != nil {
		return err
	}
	copy(logits, o.s.Output("logits"))
	return nil
}

// Close releases the session and its tensors.
func (o *Logits) Close() {
	o.s.Close()
	o.x.Close()
}
