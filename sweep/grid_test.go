package sweep

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/train"
)

const gridTOML = `
[settings]
n_max = 30
stages = "ce:1+hel:1"
width = 0.0625
pgd.steps = 2
eval.test_ir = [1, "train"]
eval.attacks = ["fgsm", "pgd-20"]

[[axes]]
key = "method"
values = ["taet", "at"]

[[axes]]
key = "hel.alpha"
values = [0.1, 0.2, 0.3]
`

const gridYAML = `
settings:
  n_max: 30
  stages: ce:1+hel:1
  width: 0.0625
  pgd:
    steps: 2
  eval.test_ir: [1, train]
  eval.attacks: [fgsm, pgd-20]
axes:
  - key: method
    values: [taet, at]
  - key: hel.alpha
    values: [0.1, 0.2, 0.3]
`

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGridFilesExpand checks that the TOML and YAML forms of one grid give
// the same runs, named and ordered by the axes (the last fastest), with
// each run's settings resolved.
func TestGridFilesExpand(t *testing.T) {
	var manifests []*Manifest
	for _, f := range []struct{ name, text string }{{"g.toml", gridTOML}, {"g.yaml", gridYAML}} {
		g, err := LoadGrid(writeFile(t, f.name, f.text))
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		m, err := Expand(g)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		manifests = append(manifests, m)
	}
	m := manifests[0]
	if !reflect.DeepEqual(manifests[0], manifests[1]) {
		t.Fatalf("TOML and YAML grids differ:\n%+v\n%+v", manifests[0].Runs[0], manifests[1].Runs[0])
	}
	wantNames := []string{
		"0-method_taet-hel.alpha_0.1", "1-method_taet-hel.alpha_0.2", "2-method_taet-hel.alpha_0.3",
		"3-method_at-hel.alpha_0.1", "4-method_at-hel.alpha_0.2", "5-method_at-hel.alpha_0.3",
	}
	if len(m.Runs) != len(wantNames) {
		t.Fatalf("%d runs, want %d", len(m.Runs), len(wantNames))
	}
	for i, r := range m.Runs {
		if r.Index != i || r.Name != wantNames[i] || r.Dir != filepath.Join("runs", wantNames[i]) {
			t.Errorf("run %d: index %d, name %q, dir %q; want name %q", i, r.Index, r.Name, r.Dir, wantNames[i])
		}
	}
	r := m.Runs[4] // at, alpha 0.2
	if r.Fit.HEL.Alpha != 0.2 || r.Fit.PGD.Steps != 2 || r.Fit.NMax != 30 || r.Fit.Width != 0.0625 || r.Fit.Epochs() != 2 {
		t.Errorf("run 4's fit: %+v", r.Fit)
	}
	if r.Fit.PGD.Eps != 8.0/255 || m.Runs[0].Fit.PGD.Eps != 0.031 { // the method's presets
		t.Errorf("PGD eps %v (at) and %v (taet): want the presets' 8/255 and 0.031", r.Fit.PGD.Eps, m.Runs[0].Fit.PGD.Eps)
	}
	if r.Fit.Dataset != "fashion-mnist" || r.Fit.DataPath == "" {
		t.Errorf("data set %q at %q: want the installed fashion-mnist", r.Fit.Dataset, r.Fit.DataPath)
	}
	if r.Values["method"] != "at" || r.Values["hel.alpha"] != "0.2" {
		t.Errorf("run 4's values %v", r.Values)
	}
	if len(r.Evals) != 2 || r.Evals[0].Label != "balanced" || r.Evals[0].TestIR != 1 ||
		r.Evals[1].Label != "long-tailed" || r.Evals[1].TestIR != r.Fit.IR {
		t.Errorf("evals %+v: want balanced (IR 1) and long-tailed (IR %v)", r.Evals, r.Fit.IR)
	}
	if e := r.Evals[0]; e.Eps != r.Fit.PGD.Eps || e.Seed != r.Fit.Seed || !reflect.DeepEqual(e.Attacks, []string{"fgsm", "pgd-20"}) {
		t.Errorf("eval %+v: want the training eps and seed, attacks fgsm and pgd-20", e)
	}
}

// TestBadGridsNameTheKey checks that every kind of bad grid is refused
// with an error naming the key at fault.
func TestBadGridsNameTheKey(t *testing.T) {
	for _, c := range []struct {
		name string
		grid Grid
		key  string
	}{
		{"unknown setting", Grid{Settings: []train.Setting{{Key: "hel.delta", Value: "1"}}}, "hel.delta"},
		{"unknown axis", Grid{Axes: []Axis{{Key: "colour", Values: []string{"red"}}}}, "colour"},
		{"empty axis", Grid{Axes: []Axis{{Key: "seed"}}}, "seed"},
		{"fixed and swept", Grid{Settings: []train.Setting{{Key: "ir", Value: "10"}}, Axes: []Axis{{Key: "ir", Values: []string{"10", "100"}}}}, "ir"},
		{"two axes", Grid{Axes: []Axis{{Key: "seed", Values: []string{"0"}}, {Key: "seed", Values: []string{"1"}}}}, "seed"},
		{"value twice", Grid{Axes: []Axis{{Key: "lr", Values: []string{"0.1", "0.1"}}}}, "lr"},
		{"value twice as a number", Grid{Axes: []Axis{{Key: "lr", Values: []string{"0.1", "0.10"}}}}, "the same settings"},
		{"eps twice as a number", Grid{Axes: []Axis{{Key: "pgd.eps", Values: []string{"8/255", "0.03137254901960784"}}}}, "the same settings"},
		{"names alike", Grid{Axes: []Axis{{Key: "data", Values: []string{"/d/a b", "/d/a_b"}}}}, "rename one"},
		{"bad number", Grid{Axes: []Axis{{Key: "pgd.eps", Values: []string{"8/255", "big"}}}}, "pgd.eps"},
		{"out of range", Grid{Settings: []train.Setting{{Key: "ir", Value: "0.5"}}}, "imbalance ratio"},
		{"bad method", Grid{Axes: []Axis{{Key: "method", Values: []string{"taet", "gairat"}}}}, "method"},
		{"bad stages", Grid{Settings: []train.Setting{{Key: "stages", Value: "ce:1+gairat:2"}}}, "stages"},
		{"bad attack", Grid{Settings: []train.Setting{{Key: "eval.attacks", Value: "fgsm+deepfool"}}}, "eval.attacks"},
		{"bad test IR", Grid{Settings: []train.Setting{{Key: "eval.test_ir", Value: "1+tail"}}}, "eval.test_ir"},
		{"bad limit", Grid{Settings: []train.Setting{{Key: "eval.limit", Value: "-3"}}}, "eval.limit"},
	} {
		_, err := Expand(c.grid)
		if err == nil || !strings.Contains(err.Error(), c.key) || !errors.Is(err, ErrGrid) {
			t.Errorf("%s: error %v, want one wrapping ErrGrid naming %q", c.name, err, c.key)
		}
	}
	for _, c := range []struct{ name, file, text, key string }{
		{"list for a scalar", "g.toml", "[settings]\nir = [10, 100]\n", "ir"},
		{"unknown section", "g.toml", "[setings]\nir = 10\n", "setings"},
		{"unknown YAML field", "g.yaml", "axis:\n  - key: ir\n", "axis"},
		{"unknown extension", "g.json", "{}", ".json"},
		{"variant without a name", "g.toml", "[[axes]]\nkey = \"variant\"\nvalues = [{method = \"at\"}]\n", "no name"},
		{"variant not a table", "g.toml", "[[axes]]\nkey = \"variant\"\nvalues = [\"at\"]\n", "variant"},
		{"variant twice", "g.toml", "[[axes]]\nkey = \"variant\"\nvalues = [{name = \"a\"}, {name = \"a\"}]\n", `"a" twice`},
		{"variants named alike", "g.toml", "[[axes]]\nkey = \"variant\"\nvalues = [{name = \"a/b\", ir = 10}, {name = \"a_b\", ir = 20}]\n", "rename one"},
		{"variants alike", "g.toml", "[[axes]]\nkey = \"variant\"\nvalues = [{name = \"a\", ir = 10}, {name = \"b\", ir = 10.0}]\n", "the same settings"},
	} {
		g, err := LoadGrid(writeFile(t, c.file, c.text))
		if err == nil {
			_, err = Expand(g)
		}
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.key)
		}
	}
}

// TestVariantAxis checks that a variant axis sets each value's settings
// together (what a product of axes cannot: methods with stages of their
// own), names runs by the variant, records its settings in the run's
// Values, and refuses variant keys that are unknown or also set elsewhere.
func TestVariantAxis(t *testing.T) {
	const grid = `
[settings]
n_max = 30
width = 0.0625
[[axes]]
key = "variant"
values = [
  {name = "taet", method = "taet", stages = "ce:1+hel:2"},
  {name = "taet-paper-hel", method = "taet", stages = "ce:1+hel:2", hel = {variant = "present-classes"}},
  {name = "at", method = "at", stages = ["at:3"]},
]
[[axes]]
key = "seed"
values = [0, 1]
`
	g, err := LoadGrid(writeFile(t, "g.toml", grid))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Expand(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Runs) != 6 || m.Runs[2].Name != "2-variant_taet-paper-hel-seed_0" {
		t.Fatalf("runs %d, run 2 %q: want 6, 2-variant_taet-paper-hel-seed_0", len(m.Runs), m.Runs[2].Name)
	}
	for _, c := range []struct {
		run             int
		variant, stages string
		hel             string
	}{{0, "taet", "ce:1+hel:2", "all-classes"}, {3, "taet-paper-hel", "ce:1+hel:2", "present-classes"}, {5, "at", "at:3", "all-classes"}} {
		r := m.Runs[c.run]
		var stages []string
		for _, st := range r.Fit.Stages {
			stages = append(stages, st.Name+":"+strconv.Itoa(st.Epochs))
		}
		if r.Values[VariantKey] != c.variant || strings.Join(stages, "+") != c.stages || r.Fit.HEL.Variant != c.hel ||
			r.Values["stages"] != c.stages || r.Fit.NMax != 30 {
			t.Errorf("run %d: values %v, stages %v, HEL %s, n_max %d; want variant %s, stages %s, HEL %s, n_max 30",
				c.run, r.Values, stages, r.Fit.HEL.Variant, r.Fit.NMax, c.variant, c.stages, c.hel)
		}
	}
	for _, c := range []struct{ name, text, key string }{
		{"unknown key", "[[axes]]\nkey = \"variant\"\nvalues = [{name = \"a\", hel = {delta = 1}}]\n", "hel.delta"},
		{"also fixed", "[settings]\nir = 10\n[[axes]]\nkey = \"variant\"\nvalues = [{name = \"a\", ir = 100}]\n", "ir"},
		{"also swept", "[[axes]]\nkey = \"variant\"\nvalues = [{name = \"a\", seed = 1}]\n[[axes]]\nkey = \"seed\"\nvalues = [0]\n", "seed"},
	} {
		g, err := LoadGrid(writeFile(t, "g.toml", c.text))
		if err == nil {
			_, err = Expand(g)
		}
		if err == nil || !strings.Contains(err.Error(), c.key) || !errors.Is(err, ErrGrid) {
			t.Errorf("%s: error %v, want one wrapping ErrGrid naming %q", c.name, err, c.key)
		}
	}
	if _, err := Expand(Grid{Axes: []Axis{{Key: VariantKey, Values: []string{"a"}}}}); err == nil || !strings.Contains(err.Error(), "grid file") {
		t.Errorf("a variant axis without variants: error %v, want one saying variants come from a grid file", err)
	}
}

// TestInitRefusesAChangedSweep checks that Init writes a manifest once,
// accepts the same one again and refuses a different one, leaving the
// first in place.
func TestInitRefusesAChangedSweep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sweep")
	grid := Grid{Settings: []train.Setting{{Key: "stages", Value: "ce:1"}}, Axes: []Axis{{Key: "seed", Values: []string{"0", "1"}}}}
	m, err := Expand(grid)
	if err != nil {
		t.Fatal(err)
	}
	if created, err := Init(dir, m); err != nil || !created {
		t.Fatalf("first Init: created %v, %v", created, err)
	}
	before, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if created, err := Init(dir, m); err != nil || created {
		t.Fatalf("Init with the same grid: created %v, %v; want a no-op", created, err)
	}
	grid.Axes[0].Values = append(grid.Axes[0].Values, "2")
	changed, err := Expand(grid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, changed); !errors.Is(err, ErrExists) {
		t.Fatalf("Init with another grid: %v, want ErrExists", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	if string(after) != string(before) {
		t.Error("a refused Init changed the manifest")
	}
	loaded, err := Load(dir)
	if err != nil || !reflect.DeepEqual(loaded, m) {
		t.Errorf("Load: %v; manifest round trip differs:\n%+v\n%+v", err, loaded, m)
	}
}

// TestGridRunsBounded checks that a grid of more runs than MaxRuns is
// refused before any run is made (a million-run grid in well under a
// second), and that MaxRuns raises the bound.
func TestGridRunsBounded(t *testing.T) {
	values := make([]string, 1000)
	for i := range values {
		values[i] = strconv.Itoa(i)
	}
	g := Grid{Axes: []Axis{{Key: "seed", Values: values}, {Key: "eval.seed", Values: values}}}
	start := time.Now()
	if _, err := Expand(g); !errors.Is(err, ErrTooManyRuns) || !strings.Contains(err.Error(), "seed 1000 × eval.seed 1000") ||
		!strings.Contains(err.Error(), strconv.Itoa(DefaultMaxRuns)) {
		t.Errorf("a million runs: %v, want ErrTooManyRuns naming the axes and the bound", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("refusing took %v: the runs were made first?", took)
	}
	g.Axes[1].Values = values[:3]
	g.Settings = []train.Setting{{Key: "stages", Value: "ce:1"}}
	if n, err := g.Runs(); err != nil || n != 3000 {
		t.Errorf("3000 runs: %d, %v", n, err)
	}
	g.MaxRuns = 2999
	if _, err := Expand(g); !errors.Is(err, ErrTooManyRuns) {
		t.Errorf("3000 runs with MaxRuns 2999: %v, want ErrTooManyRuns", err)
	}
	g.MaxRuns, g.Axes[0].Values = 3, values[:1]
	if m, err := Expand(g); err != nil || len(m.Runs) != 3 {
		t.Errorf("3 runs with MaxRuns 3: %v", err)
	}
}

// TestInitRefusesAFitDirectory checks that a sweep is not made in a
// directory that holds a fit's checkpoint or lock.
func TestInitRefusesAFitDirectory(t *testing.T) {
	m, err := Expand(Grid{Settings: []train.Setting{{Key: "stages", Value: "ce:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{checkpoint.File, train.LockFile} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Init(dir, m); !errors.Is(err, ErrHoldsFit) || !strings.Contains(err.Error(), f) {
			t.Errorf("a directory with %s: %v, want ErrHoldsFit naming it", f, err)
		}
		if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
			t.Errorf("a directory with %s: a manifest was written", f)
		}
	}
}
