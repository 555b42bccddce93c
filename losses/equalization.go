package losses

import (
	"fmt"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx"
)

// HELVariant selects the classes HEL averages over.
type HELVariant int

const (
	// AllClasses averages over all C classes, an absent class counting as
	// L_c = 0: the authors' code and the taet preset.
	AllClasses HELVariant = iota
	// PresentClasses averages over the classes present in the batch: the
	// paper's text, with S_c read as those classes.
	PresentClasses
)

var helVariantNames = [...]string{AllClasses: "all-classes", PresentClasses: "present-classes"}

// String returns the variant's flag and JSON name: "all-classes" or
// "present-classes".
func (v HELVariant) String() string {
	if v < 0 || int(v) >= len(helVariantNames) {
		return fmt.Sprintf("HELVariant(%d)", int(v))
	}
	return helVariantNames[v]
}

// ParseHELVariant returns the variant called name ("all-classes" or
// "present-classes").
func ParseHELVariant(name string) (HELVariant, error) {
	for v, n := range helVariantNames {
		if n == name {
			return HELVariant(v), nil
		}
	}
	return 0, fmt.Errorf("losses: unknown HEL variant %q (valid: all-classes, present-classes)", name)
}

// HELOpts are the weights and the variant of HEL. When Alpha, Beta and
// Gamma are all zero, each is 0.1 (the paper's and the authors' setting);
// otherwise they are used as given, so a zero weight drops its term.
type HELOpts struct {
	Alpha, Beta, Gamma float32 // weights of BCL, HDL and RCEL
	Variant            HELVariant
}

func (o HELOpts) withDefaults() HELOpts {
	if o.Alpha == 0 && o.Beta == 0 && o.Gamma == 0 {
		o.Alpha, o.Beta, o.Gamma = 0.1, 0.1, 0.1
	}
	return o
}

// HEL returns TAET's hierarchical equalization loss of logits [N, C]
// against labels y [N] int64, a float32 scalar. With ℓ_i the per-sample
// cross-entropy and n_c the number of samples of class c in the batch,
//
//	L_c  = Σ_{i: y_i = c} ℓ_i / (n_c + 1e-10)          (0 for an absent class)
//	BCL  = m = mean_c L_c
//	HDL  = mean_c (L_c − m)²
//	RCEL = Σ_c (L_c / (Σ_j L_j + 1e-10))²
//	HEL  = α·BCL + β·HDL + γ·RCEL
//
// where mean_c runs over all C classes (AllClasses) or over the classes
// present in the batch (PresentClasses). Nothing is detached. It panics
// with a *graphs.BuildError if the shapes are wrong or o.Variant is unknown.
func HEL(logits, y *graphs.Value, o HELOpts) *graphs.Value {
	checkHead("HEL", logits, y)
	if o.Variant != AllClasses && o.Variant != PresentClasses {
		fail("HEL", "unknown variant %v", o.Variant)
	}
	o = o.withDefaults()
	return scoped("hel", logits, func() *graphs.Value {
		b := logits.Builder()
		eps := b.Scalar(1e-10)
		member := graphs.OneHot(y, logits.Dim(1), 0, 1) // [N, C]
		l := graphs.Unsqueeze(CrossEntropyPerSample(logits, y), 1)
		n := graphs.ReduceSum(member, []int64{0}, false)                  // n_c [C]
		sum := graphs.ReduceSum(graphs.Mul(member, l), []int64{0}, false) // Σ_{y_i=c} ℓ_i [C]
		lc := graphs.Div(sum, graphs.Add(n, eps))                         // L_c [C]
		total := graphs.ReduceSum(lc, nil, false)                         // Σ_c L_c
		var bcl, hdl *graphs.Value
		switch o.Variant {
		case AllClasses:
			bcl = graphs.ReduceMean(lc, nil, false)
			d := graphs.Sub(lc, bcl)
			hdl = graphs.ReduceMean(graphs.Mul(d, d), nil, false)
		case PresentClasses:
			present := graphs.Cast(graphs.Greater(n, b.Scalar(0)), onnx.Float)
			k := graphs.ReduceSum(present, nil, false) // |P| ≥ 1
			bcl = graphs.Div(total, k)
			d := graphs.Mul(graphs.Sub(lc, bcl), present)
			hdl = graphs.Div(graphs.ReduceSum(graphs.Mul(d, d), nil, false), k)
		}
		share := graphs.Div(lc, graphs.Add(total, eps))
		rcel := graphs.ReduceSum(graphs.Mul(share, share), nil, false)
		return graphs.Add(graphs.Add(
			graphs.Mul(b.Scalar(o.Alpha), bcl),
			graphs.Mul(b.Scalar(o.Beta), hdl)),
			graphs.Mul(b.Scalar(o.Gamma), rcel))
	})
}

// HELHead returns HEL with o bound.
func HELHead(o HELOpts) graphs.LossHead {
	return func(logits, y *graphs.Value) *graphs.Value { return HEL(logits, y, o) }
}
