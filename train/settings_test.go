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
		{{"hel.delta", "1"}}, {{"seed", "1"}, {"seed", "2"}}, {{"method", "mart"}}, {{"lr", "fast"}},
		{{"stages", "ce"}}, {{"n_max", "1.5"}}, {{"augment", "maybe"}},
	} {
		_, err := Configure(bad)
		var se *SettingError
		if !errors.As(err, &se) || se.Key != bad[len(bad)-1].Key || !errors.Is(err, ErrConfig) {
			t.Errorf("%v: %v, want a SettingError for %s wrapping ErrConfig", bad, err, bad[len(bad)-1].Key)
		}
	}
}
