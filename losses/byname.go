package losses

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/taet-ml/taet/graphs"
)

// ErrUnknownLoss is wrapped by the error ByName returns for a name it does
// not know.
var ErrUnknownLoss = errors.New("unknown loss")

// Options are the parameters of the heads ByName builds; each head reads
// only its own.
type Options struct {
	// ClassCounts are the training-set counts of each class, all > 0
	// (balanced-softmax).
	ClassCounts []int
	// Tau is balanced-softmax's τ; 0 means 1.
	Tau float32
	// HEL holds hel's weights and variant.
	HEL HELOpts
	// Kappa is cw's confidence κ ≥ 0 (0 is Carlini and Wagner's default;
	// the AT-BSL evaluation uses 50).
	Kappa float32
	// TRADESBeta and MARTBeta are the weights β ≥ 0 of the paired heads'
	// robust terms (PairByName); 6 in the authors' code. Zero is used as
	// given.
	TRADESBeta, MARTBeta float32
	// RoBal holds robal's loss parameters (with ClassCounts).
	RoBal RoBalOpts
	// REAT holds reat's weights (with ClassCounts).
	REAT REATOpts
}

// names are the loss names, in the order Names and errors list them.
var names = []string{"ce", "balanced-softmax", "hel", "cw", "dlr", "dlr-targeted", "margin-targeted", "kl", "reat"}

// pairNames are the names PairByName accepts.
var pairNames = []string{"trades", "mart", "robal"}

// Names returns the names ByName accepts, without aliases: ce,
// balanced-softmax, hel, cw, dlr, dlr-targeted, margin-targeted, kl, reat.
func Names() []string { return append([]string(nil), names...) }

// PairNames returns the names PairByName accepts: trades, mart, robal.
func PairNames() []string { return append([]string(nil), pairNames...) }

// PairByName returns the paired train-step head called name (trades or
// mart; see PairNames) with its β taken from o. It returns an error
// wrapping ErrUnknownLoss for an unknown name, and an error for a β that
// is negative or not finite.
func PairByName(name string, o Options) (*graphs.PairHead, error) {
	var beta float32
	var head func(float32) *graphs.PairHead
	switch name {
	case "trades":
		beta, head = o.TRADESBeta, TRADESHead
	case "mart":
		beta, head = o.MARTBeta, MARTHead
	case "robal":
		if err := checkCounts("robal", o.ClassCounts); err != nil {
			return nil, err
		}
		if o.RoBal.S <= 0 {
			return nil, fmt.Errorf("losses: robal: scale s = %v, want > 0", o.RoBal.S)
		}
		beta, head = o.RoBal.Beta, func(float32) *graphs.PairHead { return RoBalHead(o.ClassCounts, o.RoBal) }
	default:
		return nil, fmt.Errorf("losses: %w %q (valid paired losses: %s)", ErrUnknownLoss, name, strings.Join(pairNames, ", "))
	}
	if !(beta >= 0) || math.IsInf(float64(beta), 1) {
		return nil, fmt.Errorf("losses: %s: β = %v, want a finite number ≥ 0", name, beta)
	}
	return head(beta), nil
}

// ByName returns the loss head called name (see Names; "bsl" is an alias of
// "balanced-softmax") with its parameters taken from o. It returns an error
// wrapping ErrUnknownLoss, and listing the valid names, for an unknown name,
// and an error for parameters the head cannot use. The class counts' length
// can only be checked against the logits: a mismatch panics when the head
// is built.
func ByName(name string, o Options) (graphs.LossHead, error) {
	switch name {
	case "ce":
		return CrossEntropy, nil
	case "balanced-softmax", "bsl":
		if err := checkCounts("balanced-softmax", o.ClassCounts); err != nil {
			return nil, err
		}
		tau := o.Tau
		if tau == 0 {
			tau = 1
		}
		return BalancedSoftmaxHead(o.ClassCounts, tau), nil
	case "hel":
		if o.HEL.Variant != AllClasses && o.HEL.Variant != PresentClasses {
			return nil, fmt.Errorf("losses: hel: unknown variant %v", o.HEL.Variant)
		}
		return HELHead(o.HEL), nil
	case "cw":
		if o.Kappa < 0 {
			return nil, fmt.Errorf("losses: cw: confidence κ = %v, want ≥ 0", o.Kappa)
		}
		return CWHead(o.Kappa), nil
	case "dlr":
		return DLR, nil
	case "dlr-targeted":
		return DLRTargetedHead(), nil
	case "margin-targeted":
		return MarginTargetedHead(), nil
	case "kl":
		return KLHead(), nil
	case "reat":
		if err := checkCounts("reat", o.ClassCounts); err != nil {
			return nil, err
		}
		return REATHead(o.ClassCounts, o.REAT), nil
	}
	return nil, fmt.Errorf("losses: %w %q (valid: %s; bsl is balanced-softmax)", ErrUnknownLoss, name, strings.Join(names, ", "))
}

// checkCounts returns an error unless counts are the positive class counts
// the head called name needs.
func checkCounts(name string, counts []int) error {
	if len(counts) == 0 {
		return fmt.Errorf("losses: %s needs the class counts", name)
	}
	for c, n := range counts {
		if n <= 0 {
			return fmt.Errorf("losses: %s: class %d has count %d, want > 0", name, c, n)
		}
	}
	return nil
}
