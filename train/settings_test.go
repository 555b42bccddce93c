package train

import (
	"errors"
	"testing"
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
