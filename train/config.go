package train

import (
	"fmt"
	"strings"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/models"
)

// The configuration of a fit is what its checkpoints store (package
// checkpoint); these names let a caller of Fit spell it as train's.
type (
	Config       = checkpoint.Config
	Stage        = checkpoint.Stage
	PGD          = checkpoint.PGD
	PGDStart     = checkpoint.PGDStart
	HEL          = checkpoint.HEL
	RoBal        = checkpoint.RoBal
	REAT         = checkpoint.REAT
	TRADES       = checkpoint.TRADES
	MART         = checkpoint.MART
	Optimizer    = checkpoint.Optimizer
	EpochMetrics = checkpoint.EpochMetrics
)

// PGD starts (see checkpoint.PGDStart).
const (
	StartNone     = checkpoint.StartNone
	StartUniform  = checkpoint.StartUniform
	StartNormal   = checkpoint.StartNormal
	StartPositive = checkpoint.StartPositive
)

// Methods returns the methods Preset knows: taet, at, at-bsl, trades, mart,
// robal, reat.
func Methods() []string { return []string{"taet", "at", "at-bsl", "trades", "mart", "robal", "reat"} }

// Preset returns the configuration of a method as its authors ran it on
// CIFAR (DESIGN.md section 6), to be adjusted by flags:
//
//	taet    ce:40 then hel:60; PGD from x + 0.001·N(0,1), 10 steps of 0.003, ε 0.031
//	at      at:100; PGD from x + U(−ε, ε), 10 steps of 2/255, ε 8/255
//	at-bsl  bsl:100; PGD as at, balanced softmax with τ = 1
//	trades  trades:100; β = 6; PGD on the KL from x + 0.001·N(0,1), 10 steps of 0.007, ε 0.031
//	mart    mart:100; β = 6; PGD on CE from x + 0.001·N(0,1), 10 steps of 0.007, ε 0.031
//	robal   robal:80 on a cosine head (scale 1, γ 1/32); PGD from
//	        x + ε·U(0, 1), 5 steps of 0.0078, ε 0.031; RoBal-N's loss
//	        (s 10, m 0.1, τ_m 0, τ_b 1.2, TRADES β 6) and adjustment (τ_p 0.1);
//	        batch 64, weight decay 2e-4, the LR schedule of RoBalMilestones
//	reat    reat:80; PGD as at; balanced softmax plus the tail-feature
//	        alignment (weight 1); LR ×0.1 at epochs 60 and 75
//
// All others: SGD lr 0.1, momentum 0.9, weight decay 5e-4, batch 128, LR
// ×0.1 at epochs 75 and 90, random crop + flip, ResNet-18.
func Preset(method string) (Config, error) {
	c := Config{
		Method: method, Dataset: "cifar10", IR: 10, Model: "resnet18", Width: 1,
		Optimizer: Optimizer{LR: 0.1, Momentum: 0.9, WeightDecay: 5e-4, Milestones: []int{75, 90}, Gamma: 0.1},
		Batch:     128,
		PGD:       PGD{Eps: 8.0 / 255, Step: 2.0 / 255, Steps: 10, Start: StartUniform},
		HEL:       HEL{Alpha: 0.1, Beta: 0.1, Gamma: 0.1, Variant: "all-classes"},
		BSLTau:    1, TRADES: TRADES{Beta: 6}, MART: MART{Beta: 6}, Augment: true, EvalSize: 1000, Device: "cpu",
		RoBal: RoBal{S: 10, M: 0.1, TauM: 0, TauB: 1.2, TauP: 0.1, Beta: 6},
		REAT:  REAT{Tail: 1},
	}
	officialPGD := PGD{Eps: 0.031, Step: 0.007, Steps: 10, Start: StartNormal} // trades_loss's and mart_loss's
	switch method {
	case "taet":
		c.Stages = []Stage{{Name: "ce", Epochs: 40}, {Name: "hel", Epochs: 60}}
		c.PGD = PGD{Eps: 0.031, Step: 0.003, Steps: 10, Start: StartNormal}
	case "at":
		c.Stages = []Stage{{Name: "at", Epochs: 100}}
	case "at-bsl":
		c.Stages = []Stage{{Name: "bsl", Epochs: 100}}
	case "trades":
		c.Stages, c.PGD = []Stage{{Name: "trades", Epochs: 100}}, officialPGD
	case "mart":
		c.Stages, c.PGD = []Stage{{Name: "mart", Epochs: 100}}, officialPGD
	case "robal":
		c.Stages = []Stage{{Name: "robal", Epochs: 80}}
		c.Head = models.Head{Kind: models.CosineHead, Scale: 1, Gamma: 1.0 / 32}
		c.PGD = PGD{Eps: 0.031, Step: 0.0078, Steps: 5, Start: StartPositive}
		c.Batch, c.Optimizer.WeightDecay, c.Optimizer.Milestones = 64, 2e-4, RoBalMilestones(80, []int{60, 75})
	case "reat":
		c.Stages = []Stage{{Name: "reat", Epochs: 80}}
		c.Optimizer.Milestones = []int{60, 75}
	default:
		return c, fmt.Errorf("method %q: want %s", method, strings.Join(Methods(), ", "))
	}
	return c, nil
}

// RoBalMilestones returns the LR milestones (0-based epochs, Optimizer's
// convention) that reproduce the RoBal authors' schedule over epochs
// epochs: their adjust_learning_rate runs at the start of every epoch
// E = 1, 2, … and multiplies the optimizer's current LR by 0.1 for every
// decline d ≤ E, so the decays compound: from epoch d on the LR shrinks
// ×0.1 once more every epoch, ×0.01 once both declines are passed. Each
// 0-based epoch e ≥ d − 1 thus appears once per decline passed
// (docs/fidelity.md).
func RoBalMilestones(epochs int, declines []int) []int {
	var out []int
	for e := range epochs {
		for _, d := range declines {
			if e+1 >= d {
				out = append(out, e)
			}
		}
	}
	return out
}
