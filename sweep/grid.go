package sweep

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/internal/boundedfile"
	"github.com/taet-ml/taet/train"
	"gopkg.in/yaml.v3"
)

// Grid defines a sweep: settings every run shares and axes whose values
// multiply into runs. Keys are train.SettingKeys (fit settings: "method",
// "ir", "stages", "pgd.eps", "hel.alpha", …) and EvalKeys. Values are text
// as train.Configure reads it; lists within one run (stages, milestones,
// eval.attacks, eval.test_ir) are joined with "+".
type Grid struct {
	Settings []train.Setting
	Axes     []Axis
	// Variants are the settings of each value of the axis VariantKey, by
	// the value's name: named combinations of settings that a product of
	// axes cannot express, such as methods with their own stages.
	Variants map[string][]train.Setting
	// MaxRuns bounds the runs of the grid (0: DefaultMaxRuns): Expand
	// refuses a larger product of axes before it makes any run.
	MaxRuns int
}

// DefaultMaxRuns is Grid.MaxRuns when none is given: more runs than a
// grid is usually meant to have (a typo such as --seed 0,1,…,999 in two
// axes), and a manifest of about 15 MiB.
const DefaultMaxRuns = 10_000

// ErrTooManyRuns is wrapped by Expand's error about a grid of more than
// Grid.MaxRuns runs.
var ErrTooManyRuns = errors.New("too many runs")

// RunsDir is the directory of a sweep that holds its runs' directories.
const RunsDir = "runs"

// VariantKey is the axis whose values are named combinations of settings
// (Grid.Variants), given in a grid file as tables with a name:
//
//	[[axes]]
//	key = "variant"
//	values = [{name = "taet", method = "taet", stages = "ce:4+hel:6"},
//	          {name = "at", method = "at", stages = "at:10"}]
//
// A run's Values hold the variant's name and the settings it makes.
const VariantKey = "variant"

// EvalKeys are the evaluation settings a grid may give, shared by every
// Eval of a run:
//
//	eval.suite    attack suite (default taet)
//	eval.attacks  attacks instead of the suite, joined with + ("fgsm+pgd-20")
//	eval.eps      L∞ radius (default: the run's training PGD eps)
//	eval.test_ir  test sets, joined with +: 1 (as is, label "balanced"),
//	              train (the run's IR, label "long-tailed") or a ratio
//	              (label "ir<ratio>"); default 1
//	eval.limit    test images attacked (0: all)
//	eval.tail     classes in the tail view (0: evaluate.DefaultTail)
//	eval.batch    batch size (default 128)
//	eval.seed     seed of the subset and attacks (default: the run's seed)
var EvalKeys = []string{"eval.suite", "eval.attacks", "eval.eps", "eval.test_ir", "eval.limit", "eval.tail", "eval.batch", "eval.seed"}

// listKeys are the keys whose value is a list within one run.
var listKeys = []string{"stages", "milestones", "eval.attacks", "eval.test_ir"}

// ErrGrid is wrapped by errors about a grid: they name the key.
var ErrGrid = errors.New("bad grid")

func gridErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrGrid}, args...)...)
}

func knownKey(k string) bool {
	return slices.Contains(train.SettingKeys(), k) || slices.Contains(EvalKeys, k)
}

// gridFile is the layout of a grid file:
//
//	[settings]                    # or settings: in YAML
//	n_max = 300
//	stages = "ce:1+hel:1"
//	eval.limit = 50               # nested tables are flattened: eval.limit
//	[[axes]]
//	key = "method"
//	values = ["taet", "at"]
type gridFile struct {
	Settings map[string]any `toml:"settings" yaml:"settings"`
	Axes     []struct {
		Key    string `toml:"key" yaml:"key"`
		Values []any  `toml:"values" yaml:"values"`
	} `toml:"axes" yaml:"axes"`
}

// GridCap is the size of the largest grid file LoadGrid reads.
const GridCap = 16 << 20

// LoadGrid reads a grid file: TOML (.toml) or YAML (.yaml, .yml), of at
// most GridCap bytes (else an error wrapping boundedfile.ErrTooLarge).
func LoadGrid(path string) (Grid, error) {
	b, err := boundedfile.ReadFile(path, GridCap, "a grid file")
	if err != nil {
		return Grid{}, err
	}
	var f gridFile
	switch ext := filepath.Ext(path); ext {
	case ".toml":
		md, err := toml.Decode(string(b), &f)
		if err != nil {
			return Grid{}, fmt.Errorf("%w: %s: %v", ErrGrid, path, err)
		}
		for _, k := range md.Undecoded() {
			if k[0] != "settings" && !(len(k) > 2 && k[0] == "axes" && k[1] == "values") { // settings' and variants' own keys are checked below
				return Grid{}, fmt.Errorf("%w: %s: unknown key %q (want settings and axes)", ErrGrid, path, k.String())
			}
		}
	case ".yaml", ".yml":
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			return Grid{}, fmt.Errorf("%w: %s: %v", ErrGrid, path, err)
		}
	default:
		return Grid{}, fmt.Errorf("%w: %s: extension %q: want .toml, .yaml or .yml", ErrGrid, path, ext)
	}
	var g Grid
	flat := map[string]any{}
	flatten("", f.Settings, flat)
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the order of settings does not matter: each key once
	for _, k := range keys {
		v, err := text(k, flat[k], true)
		if err != nil {
			return Grid{}, fmt.Errorf("%s: %w", path, err)
		}
		g.Settings = append(g.Settings, train.Setting{Key: k, Value: v})
	}
	for _, a := range f.Axes {
		ax := Axis{Key: a.Key}
		if a.Key == VariantKey {
			if ax.Values, g.Variants, err = variants(a.Values); err != nil {
				return Grid{}, fmt.Errorf("%s: %w", path, err)
			}
			g.Axes = append(g.Axes, ax)
			continue
		}
		for _, x := range a.Values {
			v, err := text(a.Key, x, true)
			if err != nil {
				return Grid{}, fmt.Errorf("%s: axis %w", path, err)
			}
			ax.Values = append(ax.Values, v)
		}
		g.Axes = append(g.Axes, ax)
	}
	return g, nil
}

// variants reads the values of a variant axis, tables of settings with a
// name each: the names in order and each one's settings.
func variants(values []any) (names []string, settings map[string][]train.Setting, err error) {
	settings = map[string][]train.Setting{}
	for i, x := range values {
		t, ok := x.(map[string]any)
		if !ok {
			return nil, nil, gridErrorf("%s value %d: %v: want a table of settings with a name", VariantKey, i+1, x)
		}
		name, ok := t["name"].(string)
		if !ok || name == "" {
			return nil, nil, gridErrorf("%s value %d: no name (a string)", VariantKey, i+1)
		}
		if _, dup := settings[name]; dup {
			return nil, nil, gridErrorf("%s: value %q twice", VariantKey, name)
		}
		flat := map[string]any{}
		flatten("", t, flat)
		delete(flat, "name")
		set := []train.Setting{}
		for _, k := range slices.Sorted(maps.Keys(flat)) {
			v, err := text(k, flat[k], true)
			if err != nil {
				return nil, nil, fmt.Errorf("%s %s: %w", VariantKey, name, err)
			}
			set = append(set, train.Setting{Key: k, Value: v})
		}
		names, settings[name] = append(names, name), set
	}
	return names, settings, nil
}

// flatten copies nested tables into out with dotted keys.
func flatten(prefix string, m map[string]any, out map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			flatten(prefix+k+".", sub, out)
			continue
		}
		out[prefix+k] = v
	}
}

// text writes a grid file's value as a setting's text; a list is joined
// with "+" where the key takes a list.
func text(key string, v any, allowList bool) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case []any:
		if !allowList || !slices.Contains(listKeys, key) {
			return "", gridErrorf("%s: a list, but %s takes one value (sweep it as an axis)", key, key)
		}
		parts := make([]string, len(x))
		for i, e := range x {
			s, err := text(key, e, false)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, "+"), nil
	}
	return "", gridErrorf("%s: value %v (%T): want a string, number or boolean", key, v, v)
}

// check reports the first key that is unknown, given twice, both fixed and
// swept, or an axis without values or with a value twice.
func (g Grid) check() error {
	fixed := map[string]bool{}
	for _, s := range g.Settings {
		switch {
		case !knownKey(s.Key):
			return gridErrorf("unknown key %q: want one of %s", s.Key, strings.Join(append(train.SettingKeys(), EvalKeys...), ", "))
		case fixed[s.Key]:
			return gridErrorf("%s: given twice", s.Key)
		}
		fixed[s.Key] = true
	}
	swept := map[string]bool{}
	for _, a := range g.Axes {
		switch {
		case a.Key == VariantKey && g.Variants == nil:
			return gridErrorf("%s: an axis of named settings, given in a grid file only", VariantKey)
		case a.Key != VariantKey && !knownKey(a.Key):
			return gridErrorf("unknown axis key %q: want one of %s", a.Key, strings.Join(append(train.SettingKeys(), EvalKeys...), ", "))
		case fixed[a.Key]:
			return gridErrorf("%s: both a fixed setting and an axis", a.Key)
		case swept[a.Key]:
			return gridErrorf("%s: two axes", a.Key)
		case len(a.Values) == 0:
			return gridErrorf("%s: an axis without values", a.Key)
		}
		swept[a.Key] = true
		seen := map[string]string{} // by the value as run names hold it
		for _, v := range a.Values {
			if prev, ok := seen[pathSafe(v)]; ok {
				if prev == v {
					return gridErrorf("%s: value %q twice", a.Key, v)
				}
				return gridErrorf("%s: values %q and %q both name runs …-%s_%s: rename one", a.Key, prev, v, a.Key, pathSafe(v))
			}
			seen[pathSafe(v)] = v
		}
	}
	for name, settings := range g.Variants {
		for _, st := range settings {
			switch {
			case !knownKey(st.Key):
				return gridErrorf("%s %s: unknown key %q", VariantKey, name, st.Key)
			case fixed[st.Key] || swept[st.Key]:
				return gridErrorf("%s %s: %s is also a fixed setting or an axis", VariantKey, name, st.Key)
			}
		}
	}
	return nil
}

// Expand checks the grid and every run's configuration and evaluations
// (train.Check: without loading data) and returns its manifest. A run
// given no data path gets data.DefaultPath's (Fashion-MNIST's), else none:
// the caller fills it in. Runs are
// the axes' product, the last axis varying fastest; run i is named
// "<i>-<key>_<value>-…" over the axes, zero-padded to the last index.
// A grid of more than MaxRuns runs is refused (ErrTooManyRuns) before any
// run is made; so are two runs with the same settings once resolved (lr
// 0.1 and 0.10, eps 8/255 and 0.0313725…, two variants alike).
func Expand(g Grid) (*Manifest, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	n, err := g.Runs()
	if err != nil {
		return nil, err
	}
	m := &Manifest{Format: ManifestFormat, Axes: make([]Axis, len(g.Axes)), Runs: make([]Run, 0, n)}
	for i, a := range g.Axes { // copies: the manifest does not alias the grid
		m.Axes[i] = Axis{Key: a.Key, Values: slices.Clone(a.Values)}
	}
	width := len(strconv.Itoa(n - 1))
	same := map[string]string{} // run name by its resolved settings
	for i := range n {
		settings := slices.Clone(g.Settings)
		values := map[string]string{}
		name := fmt.Sprintf("%0*d", width, i)
		rest := i
		picks := make([]string, len(g.Axes))
		for j := len(g.Axes) - 1; j >= 0; j-- {
			a := g.Axes[j]
			picks[j] = a.Values[rest%len(a.Values)]
			rest /= len(a.Values)
		}
		for j, a := range g.Axes {
			values[a.Key] = picks[j]
			name += "-" + a.Key + "_" + pathSafe(picks[j])
			if a.Key != VariantKey {
				settings = append(settings, train.Setting{Key: a.Key, Value: picks[j]})
				continue
			}
			for _, st := range g.Variants[picks[j]] {
				values[st.Key] = st.Value
				settings = append(settings, st)
			}
		}
		r, err := newRun(i, name, values, settings)
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", name, err)
		}
		key, err := json.Marshal(struct {
			Fit   checkpoint.Config
			Evals []Eval
		}{r.Fit, r.Evals})
		if err != nil {
			return nil, err
		}
		if prev, dup := same[string(key)]; dup {
			return nil, gridErrorf("runs %s and %s have the same settings (values that read alike, such as 0.1 and 0.10?): give each once", prev, name)
		}
		same[string(key)] = name
		m.Runs = append(m.Runs, r)
	}
	return m, nil
}

// Runs returns the number of runs of the grid, the product of its axes'
// lengths, or an error wrapping ErrTooManyRuns when it exceeds MaxRuns
// (checked as it multiplies, so it never overflows).
func (g Grid) Runs() (int, error) {
	limit := cmp.Or(g.MaxRuns, DefaultMaxRuns)
	n := 1
	for _, a := range g.Axes {
		if n *= len(a.Values); n > limit {
			var sizes []string
			for _, a := range g.Axes {
				sizes = append(sizes, fmt.Sprintf("%s %d", a.Key, len(a.Values)))
			}
			return 0, fmt.Errorf("%w: the axes (%s) make more than %d runs", ErrTooManyRuns, strings.Join(sizes, " × "), limit)
		}
	}
	return n, nil
}

// pathSafe replaces what a file name should not hold.
func pathSafe(v string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r < ' ' {
			return '_'
		}
		return r
	}, v)
}

// newRun resolves one run's settings.
func newRun(i int, name string, values map[string]string, settings []train.Setting) (Run, error) {
	var fit []train.Setting
	ev := map[string]string{}
	hasDataset := false
	for _, s := range settings {
		if strings.HasPrefix(s.Key, "eval.") {
			ev[s.Key] = strings.TrimSpace(s.Value)
			continue
		}
		hasDataset = hasDataset || s.Key == "dataset"
		fit = append(fit, s)
	}
	if !hasDataset { // as taetctl fit: the installed data set by default
		fit = append(fit, train.Setting{Key: "dataset", Value: "fashion-mnist"})
	}
	cfg, err := train.Configure(fit)
	if err != nil {
		return Run{}, fmt.Errorf("%w: %w", ErrGrid, err)
	}
	if cfg.DataPath == "" {
		cfg.DataPath = data.DefaultPath(cfg.Dataset)
	}
	if err := train.Check(cfg); err != nil {
		return Run{}, fmt.Errorf("%w: %w", ErrGrid, err)
	}
	evals, err := newEvals(cfg, ev)
	if err != nil {
		return Run{}, err
	}
	return Run{Index: i, Name: name, Dir: filepath.Join(RunsDir, name), Values: values, Fit: cfg, Evals: evals}, nil
}

// newEvals resolves the eval.* settings of a run fitted with cfg.
func newEvals(cfg train.Config, ev map[string]string) ([]Eval, error) {
	base := Eval{Suite: "taet", Eps: cfg.PGD.Eps, Batch: 128, Seed: cfg.Seed}
	var err error
	num := func(key string, dst *int) {
		if v, ok := ev[key]; ok && err == nil {
			if *dst, err = strconv.Atoi(v); err != nil || *dst < 0 {
				err = gridErrorf("%s %q: want an integer ≥ 0", key, v)
			}
		}
	}
	num("eval.limit", &base.Limit)
	num("eval.tail", &base.Tail)
	num("eval.batch", &base.Batch)
	if err != nil {
		return nil, err
	}
	if base.Batch == 0 {
		return nil, gridErrorf("eval.batch: must be positive")
	}
	if v, ok := ev["eval.seed"]; ok {
		if base.Seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			return nil, gridErrorf("eval.seed %q: want an integer ≥ 0", v)
		}
	}
	if v, ok := ev["eval.eps"]; ok {
		if base.Eps, err = train.ParseNumber(v); err != nil || base.Eps <= 0 || base.Eps > 1 {
			return nil, gridErrorf("eval.eps %q: want a radius in (0, 1]", v)
		}
	}
	if v, ok := ev["eval.suite"]; ok {
		base.Suite = v
	}
	if v, ok := ev["eval.attacks"]; ok {
		base.Suite, base.Attacks = "", strings.Split(v, "+")
	}
	if _, err := base.Specs(); err != nil {
		key := "eval.suite"
		if base.Attacks != nil {
			key = "eval.attacks"
		}
		return nil, gridErrorf("%s: %v", key, err)
	}
	testIRs := []string{"1"}
	if v, ok := ev["eval.test_ir"]; ok {
		testIRs = strings.Split(v, "+")
	}
	var evals []Eval
	for _, t := range testIRs {
		e := base
		switch t = strings.TrimSpace(t); t {
		case "1":
			e.Label, e.TestIR = "balanced", 1
		case "train":
			e.Label, e.TestIR = "long-tailed", cfg.IR
		default:
			if e.TestIR, err = strconv.ParseFloat(t, 64); err != nil || e.TestIR < 1 {
				return nil, gridErrorf("eval.test_ir %q: want 1, train or a ratio ≥ 1", t)
			}
			e.Label = "ir" + t
		}
		if slices.ContainsFunc(evals, func(x Eval) bool { return x.Label == e.Label }) {
			return nil, gridErrorf("eval.test_ir: %s twice", t)
		}
		evals = append(evals, e)
	}
	return evals, nil
}

// Specs returns the evaluation's attacks.
func (e Eval) Specs() ([]attacks.Spec, error) { return attacks.Select(e.Suite, e.Attacks, e.Eps) }
