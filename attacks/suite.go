package attacks

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DefaultEps is the L∞ radius of both suites, 8/255.
const DefaultEps = 8.0 / 255

// AutoAttack versions.
const (
	// VersionStandard is AutoAttack as Croce and Hein define it: APGD-CE
	// (100 iterations), APGD-T (100 iterations, 9 targets), FAB-T (100
	// iterations, 9 targets), Square (5000 queries); one restart each.
	VersionStandard = "standard"
	// VersionTorchattacks is what torchattacks.AutoAttack(version=
	// "standard") runs, and the TAET and AT-BSL authors evaluate with: the
	// same four attacks with torchattacks' defaults, 10 iterations for
	// APGD-CE, APGD-T and FAB-T and K−1 targets.
	VersionTorchattacks = "torchattacks"
)

// AutoAttack returns the AutoAttack cascade of the version named, at L∞
// radius eps: "autoattack" for VersionStandard, "autoattack-10" for
// VersionTorchattacks.
func AutoAttack(version string, eps float64) (Cascade, error) {
	var steps, targets int
	var label string
	switch version {
	case VersionStandard:
		label, steps, targets = "autoattack", 100, 9
	case VersionTorchattacks:
		label, steps, targets = "autoattack-10", 10, AllTargets
	default:
		return Cascade{}, fmt.Errorf("attacks: unknown AutoAttack version %q (valid: %s, %s)",
			version, VersionStandard, VersionTorchattacks)
	}
	return Cascade{Label: label, Members: []Attack{
		APGD{Eps: eps, Steps: steps, Loss: "ce"},
		APGD{Eps: eps, Steps: steps, Targets: targets},
		FAB{Eps: eps, Steps: steps, Targets: targets},
		Square{Eps: eps, Queries: 5000},
	}}, nil
}

// Spec is one entry of the attack catalogue: a configured attack under the
// name `taetctl eval --attacks` and reports use, with what its oracles
// need.
type Spec struct {
	// Name is the catalogue name ("pgd-20").
	Name string
	// Attack is the configured attack.
	Attack Attack
	// Losses are the oracle losses the attack asks for (Attack.Losses()).
	Losses []string
	// Kappa is the confidence κ the "cw" oracle must bind, for the attacks
	// that use one (cw-l2: 0, cw-linf: 50).
	Kappa float64
	// Doc is a one-line description for help texts.
	Doc string
}

// ErrUnknownAttack is wrapped by ByName and Suite for a name they do not
// know.
var ErrUnknownAttack = errors.New("unknown attack")

// catalogue returns every Spec at radius eps, in a fixed order.
func catalogue(eps float64) []Spec {
	aa, _ := AutoAttack(VersionStandard, eps)
	aa10, _ := AutoAttack(VersionTorchattacks, eps)
	specs := []Spec{
		{Name: "fgsm", Attack: FGSM{Eps: eps}, Doc: "FGSM, one step of ε on CE"},
		{Name: "pgd-20", Attack: PGD{Eps: eps, Alpha: eps / 8, Steps: 20, Start: StartUniform},
			Doc: "PGD on CE, 20 steps of ε/8 (1/255 at 8/255), uniform random start (TAET)"},
		{Name: "pgd-100", Attack: PGD{Eps: eps, Alpha: eps / 8, Steps: 100, Start: StartUniform},
			Doc: "PGD on CE, 100 steps of ε/8 (1/255 at 8/255), uniform random start (TAET)"},
		{Name: "cw-l2", Attack: CWL2{C: 10, Steps: 100, LR: 0.01},
			Doc: "Carlini–Wagner L2, c = 10, κ = 0, 100 Adam steps, lr 0.01 (TAET; no ε)"},
		{Name: "cw-linf", Attack: PGD{Eps: eps, Alpha: eps / 4, Steps: 20, Start: StartUniform, Loss: "cw"}, Kappa: 50,
			Doc: "CW-L∞: PGD on the CW margin with κ = 50, 20 steps of ε/4 (2/255 at 8/255), uniform start (AT-BSL)"},
		{Name: "apgd-ce", Attack: aa.Members[0], Doc: "APGD on CE, 100 iterations"},
		{Name: "apgd-t", Attack: aa.Members[1], Doc: "APGD-T on targeted DLR, 100 iterations, 9 targets"},
		{Name: "fab-t", Attack: aa.Members[2], Doc: "FAB-T, 100 iterations, 9 targets"},
		{Name: "square", Attack: aa.Members[3], Doc: "Square Attack, 5000 queries, p_init 0.8"},
		{Name: "autoattack", Attack: aa, Doc: "AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square (Croce and Hein)"},
		{Name: "autoattack-10", Attack: aa10,
			Doc: "AutoAttack as torchattacks runs it: 10 iterations, K−1 targets (TAET, AT-BSL)"},
	}
	for i := range specs {
		specs[i].Losses = specs[i].Attack.Losses()
	}
	return specs
}

// suites lists the members of each evaluation suite by catalogue name.
var suites = map[string][]string{
	// What the TAET authors ran (paper §6.1 and their code).
	"taet": {"fgsm", "pgd-20", "pgd-100", "cw-l2", "autoattack-10"},
	// AutoAttack as its authors define it, and CW-L∞ as AT-BSL evaluates.
	"standard": {"autoattack", "cw-linf"},
}

// SuiteNames returns the suite names Suite accepts: standard, taet.
func SuiteNames() []string { return []string{"standard", "taet"} }

// Names returns the catalogue names ByName accepts, in catalogue order.
func Names() []string {
	var out []string
	for _, s := range catalogue(DefaultEps) {
		out = append(out, s.Name)
	}
	return out
}

// ByName returns the catalogue entry called name, its radius set to eps
// (step sizes stay as the suites define them). Run it with RunDataset; a
// DatasetResult of "autoattack" also gives each member's cumulative
// result through After.
func ByName(name string, eps float64) (Spec, error) {
	for _, s := range catalogue(eps) {
		if s.Name == name {
			return s, nil
		}
	}
	return Spec{}, fmt.Errorf("attacks: %w %q (valid: %s)", ErrUnknownAttack, name, strings.Join(Names(), ", "))
}

// Suite returns the attacks of the evaluation suite called name at radius
// eps (DESIGN.md §6):
//
//	taet      fgsm, pgd-20, pgd-100, cw-l2, autoattack-10   (the TAET authors' evaluation)
//	standard  autoattack, cw-linf                           (AutoAttack's authors; AT-BSL's CW-L∞)
func Suite(name string, eps float64) ([]Spec, error) {
	members, ok := suites[name]
	if !ok {
		return nil, fmt.Errorf("attacks: %w suite %q (valid: %s)", ErrUnknownAttack, name, strings.Join(SuiteNames(), ", "))
	}
	out := make([]Spec, len(members))
	for i, m := range members {
		s, err := ByName(m, eps)
		if err != nil {
			panic(err) // the suites name catalogue entries only
		}
		out[i] = s
	}
	return out, nil
}

// Select returns the attacks named (spaces around a name ignored; each
// once, else an error) at radius eps, or, when names is empty, the suite
// called suite.
func Select(suite string, names []string, eps float64) ([]Spec, error) {
	if len(names) == 0 {
		return Suite(suite, eps)
	}
	out := make([]Spec, 0, len(names))
	for _, name := range names {
		s, err := ByName(strings.TrimSpace(name), eps)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out, func(o Spec) bool { return o.Name == s.Name }) {
			return nil, fmt.Errorf("attack %s given twice: give each attack once", s.Name)
		}
		out = append(out, s)
	}
	return out, nil
}
