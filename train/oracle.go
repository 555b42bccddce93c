package train

import (
	"fmt"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/onnx/ort"
)

// oracle is an attacks.Oracle over an input-gradient session: BatchNorm in
// inference mode, the current parameters (shared with the training session),
// the summed cross-entropy as the attack loss.
type oracle struct {
	s       *session
	x       *ort.Tensor[float32]
	y       *ort.Tensor[int64]
	classes int
}

var _ attacks.Oracle = (*oracle)(nil)

func (o *oracle) Batch() int   { return len(o.y.Data()) }
func (o *oracle) Classes() int { return o.classes }
func (o *oracle) Loss() string { return "ce" }

func (o *oracle) Eval(x []float32, y, target []int64, logits, grad []float32) error {
	if target != nil {
		return fmt.Errorf("train: the training oracle has no targeted loss")
	}
	copy(o.x.Data(), x)
	copy(o.y.Data(), y)
	if err := o.s.run(); err != nil {
		return err
	}
	copy(logits, o.s.output("logits"))
	if grad != nil {
		copy(grad, o.s.output("x_grad"))
	}
	return nil
}
