package train

import (
	"fmt"
	"strings"

	"github.com/taet-ml/taet/checkpoint"
)

// The configuration of a fit is what its checkpoints store (package
// checkpoint); these names let a caller of Fit spell it as train's.
type (
	Config       = checkpoint.Config
	Stage        = checkpoint.Stage
	PGD          = checkpoint.PGD
	PGDStart     = checkpoint.PGDStart
	HEL          = checkpoint.HEL
	TRADES       = checkpoint.TRADES
	MART         = checkpoint.MART
	Optimizer    = checkpoint.Optimizer
	EpochMetrics = checkpoint.EpochMetrics
)

// PGD starts (see checkpoint.PGDStart).
const (
	StartNone    = checkpoint.StartNone
	StartUniform = checkpoint.StartUniform
	StartNormal  = checkpoint.StartNormal
)

// Methods returns the methods Preset knows: taet, at, at-bsl, trades, mart.
func Methods() []string { return []string{"taet", "at", "at-bsl", "trades", "mart"} }

// Preset returns the configuration of a method as its authors ran it on
// CIFAR (DESIGN.md section 6), to be adjusted by flags:
//
//	taet    ce:40 then hel:60; PGD from x + 0.001·N(0,1), 10 steps of 0.003, ε 0.031
//	at      at:100; PGD from x + U(−ε, ε), 10 steps of 2/255, ε 8/255
//	at-bsl  bsl:100; PGD as at, balanced softmax with τ = 1
//	trades  trades:100; β = 6; PGD on the KL from x + 0.001·N(0,1), 10 steps of 0.007, ε 0.031
//	mart    mart:100; β = 6; PGD on CE from x + 0.001·N(0,1), 10 steps of 0.007, ε 0.031
//
// All: SGD lr 0.1, momentum 0.9, weight decay 5e-4, batch 128, LR ×0.1 at
// epochs 75 and 90, random crop + flip, ResNet-18.
func Preset(method string) (Config, error) {
	c := Config{
		Method: method, Dataset: "cifar10", IR: 10, Model: "resnet18", Width: 1,
		Optimizer: Optimizer{LR: 0.1, Momentum: 0.9, WeightDecay: 5e-4, Milestones: []int{75, 90}, Gamma: 0.1},
		Batch:     128,
		PGD:       PGD{Eps: 8.0 / 255, Step: 2.0 / 255, Steps: 10, Start: StartUniform},
		HEL:       HEL{Alpha: 0.1, Beta: 0.1, Gamma: 0.1, Variant: "all-classes"},
		BSLTau:    1, TRADES: TRADES{Beta: 6}, MART: MART{Beta: 6}, Augment: true, EvalSize: 1000, Device: "cpu",
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
	default:
		return c, fmt.Errorf("method %q: want %s", method, strings.Join(Methods(), ", "))
	}
	return c, nil
}
