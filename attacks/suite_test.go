package attacks_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/eval"
)

func TestSuite(t *testing.T) {
	for _, tc := range []struct {
		suite string
		names []string
	}{
		{"taet", []string{"fgsm", "pgd-20", "pgd-100", "cw-l2", "autoattack-10"}},
		{"standard", []string{"autoattack", "cw-linf"}},
	} {
		t.Run(tc.suite, func(t *testing.T) {
			specs, err := attacks.Suite(tc.suite, attacks.DefaultEps)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range specs {
				names = append(names, s.Name)
				if !slices.Equal(s.Losses, s.Attack.Losses()) {
					t.Errorf("%s: Losses %v, the attack asks for %v", s.Name, s.Losses, s.Attack.Losses())
				}
				if s.Doc == "" {
					t.Errorf("%s: no Doc", s.Name)
				}
			}
			if !slices.Equal(names, tc.names) {
				t.Errorf("suite %s = %v, want %v", tc.suite, names, tc.names)
			}
		})
	}
	if _, err := attacks.Suite("robustbench", attacks.DefaultEps); !errors.Is(err, attacks.ErrUnknownAttack) {
		t.Errorf("unknown suite: err = %v", err)
	}
	if !slices.Equal(attacks.SuiteNames(), []string{"standard", "taet"}) {
		t.Errorf("SuiteNames = %v", attacks.SuiteNames())
	}
}

// TestByName checks the catalogue entries against the settings DESIGN.md
// §6 names.
func TestByName(t *testing.T) {
	// At the papers' radius the steps are theirs: 1/255 for PGD, 2/255 for CW-L∞.
	for name, want := range map[string]float64{"pgd-20": 1.0 / 255, "pgd-100": 1.0 / 255, "cw-linf": 2.0 / 255} {
		s, err := attacks.ByName(name, attacks.DefaultEps)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Attack.(attacks.PGD).Alpha; math.Abs(got-want) > 1e-15 {
			t.Errorf("%s at 8/255: step %g, want %g", name, got, want)
		}
	}
	const eps = 4.0 / 255
	get := func(name string) attacks.Spec {
		t.Helper()
		s, err := attacks.ByName(name, eps)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		attack attacks.Attack
		losses []string
		kappa  float64
	}{
		{"fgsm", attacks.FGSM{Eps: eps}, []string{"ce"}, 0},
		{"pgd-20", attacks.PGD{Eps: eps, Alpha: eps / 8, Steps: 20, Start: attacks.StartUniform}, []string{"ce"}, 0},
		{"pgd-100", attacks.PGD{Eps: eps, Alpha: eps / 8, Steps: 100, Start: attacks.StartUniform}, []string{"ce"}, 0},
		{"cw-l2", attacks.CWL2{C: 10, Steps: 100, LR: 0.01}, []string{"cw"}, 0},
		{"cw-linf", attacks.PGD{Eps: eps, Alpha: eps / 4, Steps: 20, Start: attacks.StartUniform, Loss: "cw"}, []string{"cw"}, 50},
		{"apgd-ce", attacks.APGD{Eps: eps, Steps: 100, Loss: "ce"}, []string{"ce"}, 0},
		{"apgd-t", attacks.APGD{Eps: eps, Steps: 100, Targets: 9}, []string{"dlr-targeted"}, 0},
		{"fab-t", attacks.FAB{Eps: eps, Steps: 100, Targets: 9}, []string{"margin-targeted"}, 0},
		{"square", attacks.Square{Eps: eps, Queries: 5000}, []string{"ce"}, 0},
	} {
		s := get(tc.name)
		if s.Attack != tc.attack || !slices.Equal(s.Losses, tc.losses) || s.Kappa != tc.kappa {
			t.Errorf("%s = %#v, losses %v, κ %g; want %#v, %v, %g", tc.name, s.Attack, s.Losses, s.Kappa, tc.attack, tc.losses, tc.kappa)
		}
	}
	for _, tc := range []struct {
		name    string
		steps   int
		targets int
	}{
		{"autoattack", 100, 9},
		{"autoattack-10", 10, attacks.AllTargets},
	} {
		c, ok := get(tc.name).Attack.(attacks.Cascade)
		if !ok || c.Name() != tc.name {
			t.Fatalf("%s is not a cascade of that name", tc.name)
		}
		want := []attacks.Attack{
			attacks.APGD{Eps: eps, Steps: tc.steps, Loss: "ce"},
			attacks.APGD{Eps: eps, Steps: tc.steps, Targets: tc.targets},
			attacks.FAB{Eps: eps, Steps: tc.steps, Targets: tc.targets},
			attacks.Square{Eps: eps, Queries: 5000},
		}
		if !slices.Equal(c.Members, want) {
			t.Errorf("%s members = %#v", tc.name, c.Members)
		}
		if !slices.Equal(c.Losses(), []string{"ce", "dlr-targeted", "margin-targeted"}) {
			t.Errorf("%s losses = %v", tc.name, c.Losses())
		}
	}
	if _, err := attacks.ByName("deepfool", eps); !errors.Is(err, attacks.ErrUnknownAttack) {
		t.Errorf("unknown attack: err = %v", err)
	}
	if _, err := attacks.AutoAttack("plus", eps); err == nil {
		t.Error("AutoAttack(plus) did not fail")
	}
	for _, name := range attacks.Names() {
		get(name)
	}
}

// ExampleRunDataset evaluates a linear classifier on four examples under
// the taet suite's PGD-20 and reports balanced robustness with package
// eval.
func ExampleRunDataset() {
	// Two classes, 2×2 gray images; z_0 − z_1 = 2·Σx − 4. PGD-20 moves
	// every pixel by up to ε = 8/255, changing the margin by up to 0.25.
	m := &linear{d: 4, k: 2, w: []float64{1, 1, 1, 1, -1, -1, -1, -1}, b: []float64{-2, 2}}
	x := []float32{
		0.9, 0.9, 0.9, 0.9, // class 0, margin 3.2: robust
		0.5, 0.5, 0.5, 0.55, // class 0, margin 0.1: broken
		0.1, 0.1, 0.1, 0.1, // class 1, margin 3.2: robust
		0.45, 0.5, 0.5, 0.5, // class 1, margin 0.1: broken
	}
	y := []int64{0, 0, 1, 1}
	set := oracleSet(m, 2, 0, gradHonest, nil) // an OracleSet with batches of 2
	spec, err := attacks.ByName("pgd-20", attacks.DefaultEps)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := attacks.RunDataset(spec.Attack, set, x, y, attacks.DatasetOptions{Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	clean, adv := eval.Evaluate(r.Clean, y, 2), eval.Evaluate(r.Pred, y, 2)
	fmt.Printf("%s needs oracles for %v\n", spec.Name, spec.Losses)
	fmt.Printf("clean balanced accuracy %.2f, balanced robustness %.2f\n", clean.Balanced, adv.Balanced)
	fmt.Println("recall under attack:", adv.Recall, "max L∞ within ε:", r.MaxLinf <= attacks.DefaultEps+attacks.Tolerance)
	// Output:
	// pgd-20 needs oracles for [ce]
	// clean balanced accuracy 1.00, balanced robustness 0.50
	// recall under attack: [0.5 0.5] max L∞ within ε: true
}

func TestSelectRefusesAnAttackTwice(t *testing.T) {
	if s, err := attacks.Select("", []string{"fgsm", " pgd-20"}, attacks.DefaultEps); err != nil || len(s) != 2 {
		t.Fatalf("fgsm, pgd-20: %v, %v", s, err)
	}
	if _, err := attacks.Select("", []string{"fgsm", " fgsm"}, attacks.DefaultEps); err == nil {
		t.Error("fgsm twice: accepted, want an error")
	}
}
