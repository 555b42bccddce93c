package train

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/models"
)

// Setting is one fit setting as text: a key of SettingKeys and its value,
// as `taetctl fit` flags and sweep grids give them.
type Setting struct {
	Key, Value string
}

// SettingError is Configure's error about one setting; it wraps ErrConfig.
type SettingError struct {
	Key, Value string
	Err        error
}

func (e *SettingError) Error() string { return fmt.Sprintf("%s %q: %v", e.Key, e.Value, e.Err) }
func (e *SettingError) Unwrap() []error {
	return []error{ErrConfig, e.Err}
}

// setters parse a value into a Config, by key. Numbers may be written as
// fractions ("8/255"); lists (stages, milestones) are joined with "+":
// stages "ce:40+hel:60", milestones "75+90".
var setters = map[string]func(c *Config, v string) error{
	"dataset":      func(c *Config, v string) error { c.Dataset = v; return nil },
	"data":         func(c *Config, v string) error { c.DataPath = v; return nil },
	"ir":           floatSetter(func(c *Config) *float64 { return &c.IR }),
	"n_max":        intSetter(func(c *Config) *int { return &c.NMax }),
	"seed":         func(c *Config, v string) (err error) { c.Seed, err = strconv.ParseUint(v, 10, 64); return err },
	"model":        func(c *Config, v string) error { c.Model = v; return nil },
	"width":        floatSetter(func(c *Config) *float64 { return &c.Width }),
	"stages":       setStages,
	"batch":        intSetter(func(c *Config) *int { return &c.Batch }),
	"lr":           floatSetter(func(c *Config) *float64 { return &c.Optimizer.LR }),
	"momentum":     floatSetter(func(c *Config) *float64 { return &c.Optimizer.Momentum }),
	"weight_decay": floatSetter(func(c *Config) *float64 { return &c.Optimizer.WeightDecay }),
	"milestones":   setMilestones,
	"lr_gamma":     floatSetter(func(c *Config) *float64 { return &c.Optimizer.Gamma }),
	"pgd.eps":      floatSetter(func(c *Config) *float64 { return &c.PGD.Eps }),
	"pgd.step":     floatSetter(func(c *Config) *float64 { return &c.PGD.Step }),
	"pgd.steps":    intSetter(func(c *Config) *int { return &c.PGD.Steps }),
	"pgd.start":    func(c *Config, v string) error { c.PGD.Start = PGDStart(v); return nil },
	"hel.alpha":    floatSetter(func(c *Config) *float64 { return &c.HEL.Alpha }),
	"hel.beta":     floatSetter(func(c *Config) *float64 { return &c.HEL.Beta }),
	"hel.gamma":    floatSetter(func(c *Config) *float64 { return &c.HEL.Gamma }),
	"hel.variant":  func(c *Config, v string) error { c.HEL.Variant = v; return nil },
	"bsl_tau":      floatSetter(func(c *Config) *float64 { return &c.BSLTau }),
	"head.kind":    func(c *Config, v string) error { c.Head.Kind = models.HeadKind(v); return nil },
	"head.scale":   floatSetter(func(c *Config) *float64 { return &c.Head.Scale }),
	"head.gamma":   floatSetter(func(c *Config) *float64 { return &c.Head.Gamma }),
	"robal.s":      floatSetter(func(c *Config) *float64 { return &c.RoBal.S }),
	"robal.m":      floatSetter(func(c *Config) *float64 { return &c.RoBal.M }),
	"robal.tau_m":  floatSetter(func(c *Config) *float64 { return &c.RoBal.TauM }),
	"robal.tau_b":  floatSetter(func(c *Config) *float64 { return &c.RoBal.TauB }),
	"robal.tau_p":  floatSetter(func(c *Config) *float64 { return &c.RoBal.TauP }),
	"robal.beta":   floatSetter(func(c *Config) *float64 { return &c.RoBal.Beta }),
	"reat.tail":    floatSetter(func(c *Config) *float64 { return &c.REAT.Tail }),
	"trades.beta":  floatSetter(func(c *Config) *float64 { return &c.TRADES.Beta }),
	"mart.beta":    floatSetter(func(c *Config) *float64 { return &c.MART.Beta }),
	"augment":      func(c *Config, v string) (err error) { c.Augment, err = strconv.ParseBool(v); return err },
	"eval_size":    intSetter(func(c *Config) *int { return &c.EvalSize }),
	"device":       func(c *Config, v string) error { c.Device = v; return nil },
}

// SettingKeys returns the keys Configure knows, "method" first.
func SettingKeys() []string {
	keys := []string{"method"}
	for k := range setters {
		keys = append(keys, k)
	}
	slices.Sort(keys[1:])
	return keys
}

// Configure returns the configuration the settings describe: the preset of
// the "method" setting (default taet), then every other setting in order.
// A key given twice, an unknown key or a value that does not parse is a
// *SettingError naming the key; the numbers are not checked here (Check).
func Configure(settings []Setting) (Config, error) {
	method := "taet"
	seen := map[string]bool{}
	for _, s := range settings {
		if _, ok := setters[s.Key]; !ok && s.Key != "method" {
			return Config{}, &SettingError{s.Key, s.Value, fmt.Errorf("unknown setting: want one of %s", strings.Join(SettingKeys(), ", "))}
		}
		if seen[s.Key] {
			return Config{}, &SettingError{s.Key, s.Value, errors.New("given twice")}
		}
		seen[s.Key] = true
		if s.Key == "method" {
			method = s.Value
		}
	}
	cfg, err := Preset(method)
	if err != nil {
		return cfg, &SettingError{"method", method, err}
	}
	for _, s := range settings {
		if s.Key == "method" {
			continue
		}
		if s.Key == "stages" {
			cfg.Method = "custom"
		}
		if err := setters[s.Key](&cfg, strings.TrimSpace(s.Value)); err != nil {
			return cfg, &SettingError{s.Key, s.Value, err}
		}
	}
	return cfg, nil
}

// Check reports what Resolve would reject in cfg without loading its data
// or building its model: the numbers, the thread count and every name.
func Check(cfg Config) error { return check(cfg) }

func floatSetter(field func(*Config) *float64) func(*Config, string) error {
	return func(c *Config, v string) error {
		x, err := ParseNumber(v)
		*field(c) = x
		return err
	}
}

func intSetter(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) (err error) {
		*field(c), err = strconv.Atoi(v)
		if err != nil {
			return errors.New("want an integer")
		}
		return nil
	}
}

func setStages(c *Config, v string) error {
	c.Stages = nil
	for _, s := range strings.Split(v, "+") {
		st, err := checkpoint.ParseStage(strings.TrimSpace(s), 0)
		if err != nil {
			return err
		}
		c.Stages = append(c.Stages, st)
	}
	return nil
}

func setMilestones(c *Config, v string) error {
	c.Optimizer.Milestones = []int{}
	if v == "" {
		return nil
	}
	for _, s := range strings.Split(v, "+") {
		m, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want epochs joined with +, like 75+90")
		}
		c.Optimizer.Milestones = append(c.Optimizer.Milestones, m)
	}
	return nil
}

// ParseNumber parses a finite number written as a decimal ("0.031") or a
// fraction ("8/255"), as people write ε.
func ParseNumber(s string) (float64, error) {
	num, den, isFrac := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil {
		return 0, fmt.Errorf("%q: want a number or a fraction like 8/255", s)
	}
	if isFrac {
		d, err := strconv.ParseFloat(strings.TrimSpace(den), 64)
		if err != nil || d == 0 {
			return 0, fmt.Errorf("%q: want a number or a fraction like 8/255", s)
		}
		n /= d
	}
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("%q: want a finite number", s)
	}
	return n, nil
}
