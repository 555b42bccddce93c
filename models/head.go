package models

import (
	"fmt"
	"math"

	"github.com/taet-ml/taet/graphs"
)

// HeadKind selects a network's classifier: the last layer, from the
// penultimate features h [N, D] to the logits [N, K].
type HeadKind string

const (
	// LinearHead is nn.Linear (the default, also for ""): h·Wᵀ + b.
	LinearHead HeadKind = "linear"
	// CosineHead is RoBal's cosine classifier (the official CosPlus
	// classifier, bias off):
	//
	//	z = s·(h / ‖h‖)·(W / (‖W_k‖ + γ))ᵀ
	//
	// with ‖·‖ the L2 norm of each feature row and of each class's weight
	// row W_k [D], W [K, D] initialised U(±1/√D), and no bias.
	CosineHead HeadKind = "cosine"
)

// Head configures the classifier.
type Head struct {
	Kind  HeadKind `json:"kind,omitempty"`  // "" or LinearHead, or CosineHead
	Scale float64  `json:"scale,omitempty"` // CosineHead's s (RoBal trains at 1 and scales in its loss)
	Gamma float64  `json:"gamma,omitempty"` // CosineHead's γ added to the weight norms (RoBal: 1/32)
}

// Adjust is an inference-time affine map of the logits, z′ = Scale·z +
// Bias, applied after the head by the networks a trained model is
// evaluated and exported with (RoBal's boundary adjustment: Scale s, Bias
// −τ_p·log π, losses.RoBalAdjustment). Training never applies it.
type Adjust struct {
	Scale float32
	Bias  []float32 // [K]
}

func (h Head) check() error {
	switch h.Kind {
	case "", LinearHead:
		return nil
	case CosineHead:
		if !(h.Scale > 0) || math.IsInf(h.Scale, 0) || !(h.Gamma >= 0) || math.IsInf(h.Gamma, 0) {
			return fmt.Errorf("cosine head: scale %v and γ %v: want scale > 0 and γ ≥ 0", h.Scale, h.Gamma)
		}
		return nil
	}
	return fmt.Errorf("head %q: want %s or %s", h.Kind, LinearHead, CosineHead)
}

// classifier maps features h [N, D] to [N, classes] logits with the head
// called name, declares h as the logits' features (graphs.WithFeatures)
// and applies adj when it is not nil.
func (s scope) classifier(name string, h *graphs.Value, classes int64, head Head, linear func() *graphs.Value, adj *Adjust) *graphs.Value {
	var z *graphs.Value
	if head.Kind == CosineHead {
		z = s.sub(name, func(s scope) *graphs.Value {
			b := h.Builder()
			w := s.param("weight", []int64{classes, h.Dim(1)}, linearDefault(h.Dim(1)))
			hn := graphs.Div(h, rowNorm(h))
			wn := graphs.Div(w, graphs.Add(rowNorm(w), b.Scalar(float32(head.Gamma))))
			return graphs.Mul(b.Scalar(float32(head.Scale)), graphs.MatMul(hn, graphs.Transpose(wn, 1, 0)))
		})
	} else {
		z = linear()
	}
	if adj != nil {
		if int64(len(adj.Bias)) != classes {
			panic(&graphs.BuildError{Op: "Adjust", Err: fmt.Errorf("%d biases for %d classes", len(adj.Bias), classes)})
		}
		b := z.Builder()
		z = graphs.Add(graphs.Mul(b.Scalar(adj.Scale), z), b.Constant([]int64{1, classes}, adj.Bias))
	}
	return graphs.WithFeatures(z, h)
}

// rowNorm returns the L2 norm of every row of x [M, D], as [M, 1].
func rowNorm(x *graphs.Value) *graphs.Value {
	return graphs.Sqrt(graphs.ReduceSum(graphs.Mul(x, x), []int64{1}, true))
}
