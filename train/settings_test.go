package train

import (
	"errors"
	"math"
	"testing"

	"github.com/taet-ml/taet/models"
)

// TestConfigureAppliesThePresetFirst checks that the method's preset is
// the base wherever "method" stands, that stages make the method custom,
// and that bad settings are SettingErrors naming their key.
func TestConfigureAppliesThePresetFirst(t *testing.T) {
	cfg, err := Configure([]Setting{{"pgd.eps", "4/255"}, {"milestones", "3+5"}, {"method", "at-bsl"}, {"augment", "false"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Method != "at-bsl" || cfg.Stages[0].Name != "bsl" || cfg.PGD.Eps != 4.0/255 || cfg.PGD.Step != 2.0/255 ||
		len(cfg.Optimizer.Milestones) != 2 || cfg.Optimizer.Milestones[1] != 5 || cfg.Augment {
		t.Errorf("config %+v", cfg)
	}
	cfg, err = Configure([]Setting{{"stages", "ce:2+hel:3"}})
	if err != nil || cfg.Method != "custom" || cfg.Epochs() != 5 || cfg.PGD.Eps != 0.031 {
		t.Errorf("stages ce:2+hel:3: %+v, %v; want a custom 5-epoch fit on taet's preset", cfg, err)
	}
	for _, bad := range [][]Setting{
		{{"hel.delta", "1"}}, {{"seed", "1"}, {"seed", "2"}}, {{"method", "gairat"}}, {{"lr", "fast"}},
		{{"stages", "ce"}}, {{"n_max", "1.5"}}, {{"augment", "maybe"}},
	} {
		_, err := Configure(bad)
		var se *SettingError
		if !errors.As(err, &se) || se.Key != bad[len(bad)-1].Key || !errors.Is(err, ErrConfig) {
			t.Errorf("%v: %v, want a SettingError for %s wrapping ErrConfig", bad, err, bad[len(bad)-1].Key)
		}
	}
}

// TestRoBalAndREATSettings: the robal and reat presets carry the official
// settings, and every RoBal, REAT and head setting is a key that
// overrides them (RoBal-R from RoBal-N by two keys).
func TestRoBalAndREATSettings(t *testing.T) {
	cfg, err := Configure([]Setting{{"method", "robal"}, {"robal.tau_m", "0.3"}, {"robal.tau_b", "1.5"}, {"robal.tau_p", "1.7"},
		{"robal.s", "16"}, {"robal.m", "0.2"}, {"robal.beta", "3"}, {"head.gamma", "1/16"}})
	if err != nil {
		t.Fatal(err)
	}
	want := RoBal{S: 16, M: 0.2, TauM: 0.3, TauB: 1.5, TauP: 1.7, Beta: 3}
	if cfg.Stages[0].Name != "robal" || cfg.Epochs() != 80 || cfg.RoBal != want || cfg.Batch != 64 || cfg.Optimizer.WeightDecay != 2e-4 ||
		cfg.Head != (models.Head{Kind: models.CosineHead, Scale: 1, Gamma: 1.0 / 16}) ||
		cfg.PGD != (PGD{Eps: 0.031, Step: 0.0078, Steps: 5, Start: StartPositive}) {
		t.Errorf("robal config %+v", cfg)
	}
	if err := Check(cfg); err != nil {
		t.Errorf("Check(robal): %v", err)
	}
	cfg, err = Configure([]Setting{{"method", "reat"}, {"reat.tail", "0.5"}, {"head.kind", "cosine"}, {"head.scale", "10"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Stages[0].Name != "reat" || cfg.Epochs() != 80 || cfg.REAT.Tail != 0.5 || cfg.Head.Kind != models.CosineHead ||
		cfg.PGD != (PGD{Eps: 8.0 / 255, Step: 2.0 / 255, Steps: 10, Start: StartUniform}) || cfg.Optimizer.LRAt(59) != 0.1 ||
		math.Abs(cfg.Optimizer.LRAt(60)-0.01) > 1e-12 || math.Abs(cfg.Optimizer.LRAt(75)-0.001) > 1e-12 {
		t.Errorf("reat config %+v", cfg)
	}
	robal, _ := Preset("robal")
	if robal.RoBal.S = 0; Check(robal) == nil {
		t.Error("robal with scale s 0: no error")
	}
}

// TestRoBalMilestones: the robal preset's learning rate is, epoch for
// epoch, what the authors' train.py gives: adjust_learning_rate at the
// start of each epoch E = 1…80 multiplies the current LR by 0.1 for each
// decline (60, 75) ≤ E, compounding.
func TestRoBalMilestones(t *testing.T) {
	cfg, err := Preset("robal")
	if err != nil {
		t.Fatal(err)
	}
	lr := 0.1
	for epoch := 1; epoch <= 80; epoch++ {
		decay := 1.0
		for _, d := range []int{60, 75} {
			if epoch >= d {
				decay *= 0.1
			}
		}
		lr *= decay
		if got := cfg.Optimizer.LRAt(epoch - 1); math.Abs(got-lr) > 1e-9*lr {
			t.Fatalf("epoch %d: LR %g, the authors' code %g", epoch, got, lr)
		}
	}
}

// TestPairedPresets checks the trades and mart presets against the
// authors' code (trades_loss with train_trades_cifar10.py's arguments,
// mart_loss's defaults) and that trades.beta and mart.beta override β.
func TestPairedPresets(t *testing.T) {
	official := PGD{Eps: 0.031, Step: 0.007, Steps: 10, Start: StartNormal}
	for _, tc := range []struct {
		method   string
		settings []Setting
		beta     func(Config) float64
		want     float64
	}{
		{"trades", nil, func(c Config) float64 { return c.TRADES.Beta }, 6},
		{"mart", nil, func(c Config) float64 { return c.MART.Beta }, 6},
		{"trades", []Setting{{"trades.beta", "1"}}, func(c Config) float64 { return c.TRADES.Beta }, 1},
		{"mart", []Setting{{"mart.beta", "5"}}, func(c Config) float64 { return c.MART.Beta }, 5},
	} {
		cfg, err := Configure(append([]Setting{{"method", tc.method}}, tc.settings...))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.PGD != official || len(cfg.Stages) != 1 || cfg.Stages[0] != (Stage{Name: tc.method, Epochs: 100}) ||
			!cfg.Stages[0].Paired() || tc.beta(cfg) != tc.want {
			t.Errorf("%s %v: %+v, want stage %s:100, PGD %+v, β %v", tc.method, tc.settings, cfg, tc.method, official, tc.want)
		}
	}
	if got := (Stage{Name: "trades"}).AttackLoss(); got != "kl" {
		t.Errorf("trades attack loss %q, want kl", got)
	}
	if got := (Stage{Name: "mart"}).AttackLoss(); got != "ce" {
		t.Errorf("mart attack loss %q, want ce", got)
	}
	cfg, _ := Preset("trades")
	cfg.Device = "cuda"
	if err := Check(cfg); !errors.Is(err, ErrConfig) {
		t.Errorf("a trades stage on cuda: %v, want an ErrConfig (CPU only so far)", err)
	}
	cfg.Device, cfg.TRADES.Beta = "cpu", -1
	if err := Check(cfg); !errors.Is(err, ErrConfig) {
		t.Errorf("trades beta -1: %v, want an ErrConfig", err)
	}
}
