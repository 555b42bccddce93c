package export

import (
	"errors"
	"fmt"
	"github.com/taet-ml/taet/checkpoint"
	"math"

	"github.com/taet-ml/taet/onnx/ort"
)

// DefaultTolerance bounds Verify's largest logit difference, relative to
// the logit scale.
const DefaultTolerance = 1e-4

// ErrMismatch is wrapped by Verify's error when the exported logits differ
// from the reference by more than the tolerance.
var ErrMismatch = errors.New("exported model disagrees with the checkpoint")

// Check is what Verify measured.
type Check struct {
	Batch      int     `json:"batch"`
	MaxAbsDiff float64 `json:"max_abs_diff"` // max |exported − reference| over all logits
	LogitScale float64 `json:"logit_scale"`  // max |reference logit|
	Bound      float64 `json:"bound"`        // tolerance · max(1, LogitScale)
}

// Verify runs model, a serialized ONNX model with input x and output
// logits, on ONNX Runtime with x (batch images [batch, C, H, W] of n) and
// compares its logits with those of n.EvalGraph(batch), the unfolded
// reference at a static batch. It returns what it measured, and an error
// wrapping ErrMismatch when MaxAbsDiff exceeds the Bound or a logit is not
// finite. Runtime errors wrap ort.ErrNoRuntime where the library is missing.
func Verify(model []byte, n *checkpoint.Network, x []float32, tolerance float64, opts ort.Options) (Check, error) {
	per := n.Image[0] * n.Image[1] * n.Image[2]
	if len(x) == 0 || int64(len(x))%per != 0 {
		return Check{}, fmt.Errorf("verify: %d input values are not whole images of %v", len(x), n.Image)
	}
	c := Check{Batch: int(int64(len(x)) / per)}
	shape := []int64{int64(c.Batch), n.Image[0], n.Image[1], n.Image[2]}
	got, err := Logits(model, x, shape, n.Options.Classes, opts)
	if err != nil {
		return c, fmt.Errorf("verify: run the exported model: %w", err)
	}
	ref, err := n.EvalGraph(int64(c.Batch))
	if err != nil {
		return c, fmt.Errorf("verify: %w", err)
	}
	refBytes, err := ref.Bytes()
	if err != nil {
		return c, err
	}
	want, err := Logits(refBytes, x, shape, n.Options.Classes, opts)
	if err != nil {
		return c, fmt.Errorf("verify: run the reference eval graph: %w", err)
	}
	finite := true
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		finite = finite && !math.IsNaN(d) && !math.IsInf(d, 0)
		c.MaxAbsDiff = max(c.MaxAbsDiff, d)
		c.LogitScale = max(c.LogitScale, math.Abs(float64(want[i])))
	}
	c.Bound = tolerance * max(1, c.LogitScale)
	if !finite || !(c.MaxAbsDiff <= c.Bound) {
		return c, fmt.Errorf("%w: max |Δlogit| %.3g exceeds %.3g (tolerance %g × logit scale %.3g) on %d images",
			ErrMismatch, c.MaxAbsDiff, c.Bound, tolerance, max(1, c.LogitScale), c.Batch)
	}
	return c, nil
}

// Logits runs model, serialized ONNX with input x and output logits [N,
// classes], on x of the given shape and returns the logits.
func Logits(model []byte, x []float32, shape []int64, classes int, opts ort.Options) ([]float32, error) {
	s, err := ort.NewSession(model, []string{"x"}, []string{"logits"}, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	in, err := ort.NewTensor(shape, x)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	out, err := ort.NewZeros[float32](shape[0], int64(classes))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	if err := s.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
		return nil, err
	}
	return append([]float32(nil), out.Data()...), nil
}
