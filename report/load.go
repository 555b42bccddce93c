package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/sweep"
)

// Run is one fit and its evaluations as found on disk.
type Run struct {
	Name string
	Dir  string
	// Config names the run's configuration: runs with the same Config
	// differ only in their seed and are aggregated together.
	Config string
	// Values are what sets the configuration apart: a sweep run's axis
	// values without "seed", or a bare run's checkpoint settings that
	// differ between the runs given (as dotted JSON keys, "hel.alpha").
	Values map[string]string
	Seed   string
	Method string
	// State is the checkpoint's state; nil when the fit has not written one.
	State *checkpoint.State
	// Records are the run's evaluation records by label (eval/<label>.json).
	Records map[string]evaluate.Record
	// Labels are the evaluations the run should have: a sweep's, or for
	// bare runs every label found in any of them.
	Labels []string
}

// Finished says whether the run's fit has run all its epochs.
func (r *Run) Finished() bool {
	return r.State != nil && r.State.Epoch >= r.State.Config.Epochs() && r.State.Step == 0
}

// Missing lists what the run lacks: an unwritten or unfinished fit, and
// evaluation records not (yet) written.
func (r *Run) Missing() []string {
	var out []string
	switch {
	case r.State == nil:
		out = append(out, "fit not started (no "+checkpoint.File+")")
	case !r.Finished():
		out = append(out, fmt.Sprintf("fit unfinished: %d of %d epochs", len(r.State.Metrics), r.State.Config.Epochs()))
	}
	for _, l := range r.Labels {
		if _, ok := r.Records[l]; !ok {
			out = append(out, "no evaluation "+filepath.Join(evaluate.RecordDir, l+".json"))
		}
	}
	return out
}

// LoadSweep reads the runs of the sweep in dir (its sweep.json and each
// run directory), grouped into configurations by their axis values without
// "seed". Runs not started yet are included, with nothing in them.
func LoadSweep(dir string) ([]*Run, error) {
	m, err := sweep.Load(dir)
	if err != nil {
		return nil, err
	}
	var axes []string // the axes that tell configurations apart
	for _, a := range m.Axes {
		if a.Key != "seed" && len(a.Values) > 1 {
			axes = append(axes, a.Key)
		}
	}
	runs := make([]*Run, 0, len(m.Runs))
	for _, mr := range m.Runs {
		r := &Run{Name: mr.Name, Dir: filepath.Join(dir, mr.Dir), Values: map[string]string{}, Method: mr.Fit.Method,
			Seed: mr.Values["seed"]}
		if r.Seed == "" {
			r.Seed = strconv.FormatUint(mr.Fit.Seed, 10)
		}
		for k, v := range mr.Values {
			if k != "seed" {
				r.Values[k] = v
			}
		}
		if v, ok := mr.Values["method"]; ok {
			r.Method = v
		}
		r.Config = configName(axes, r.Values, r.Method)
		for _, e := range mr.Evals {
			r.Labels = append(r.Labels, e.Label)
		}
		if err := r.read(true); err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// LoadRuns reads run directories given one by one (each holding a
// checkpoint), grouped into configurations by their checkpoint Config with
// the settings that do not change the result cleared: Seed, Threads,
// Device, CPUKernels and DataPath. A configuration is named by the
// settings that differ between the runs.
func LoadRuns(dirs []string) ([]*Run, error) {
	if len(dirs) == 0 {
		return nil, errors.New("no run directories given")
	}
	runs := make([]*Run, len(dirs))
	flat := make([]map[string]string, len(dirs))
	labels := map[string]bool{}
	for i, d := range dirs {
		r := &Run{Name: filepath.Clean(d), Dir: d} // as given: base names may repeat (a/run, b/run)
		if err := r.read(false); err != nil {
			return nil, err
		}
		cfg := r.State.Config
		r.Seed, r.Method = strconv.FormatUint(cfg.Seed, 10), cfg.Method
		cfg.Seed, cfg.Threads, cfg.Device, cfg.CPUKernels, cfg.DataPath = 0, 0, "", "", ""
		var err error
		if flat[i], err = flatten(cfg); err != nil {
			return nil, err
		}
		for l := range r.Records {
			labels[l] = true
		}
		runs[i] = r
	}
	differ := map[string]bool{}
	for _, f := range flat[1:] {
		for k, v := range f {
			if flat[0][k] != v {
				differ[k] = true
			}
		}
		for k, v := range flat[0] {
			if f[k] != v {
				differ[k] = true
			}
		}
	}
	keys := slices.Sorted(maps.Keys(differ))
	for i, r := range runs {
		r.Values = map[string]string{}
		for _, k := range keys {
			r.Values[k] = flat[i][k]
		}
		r.Config = configName(keys, r.Values, r.Method)
		r.Labels = slices.Sorted(maps.Keys(labels))
	}
	return runs, nil
}

// configName names a configuration by its values of keys ("ir=10
// method=taet"), or by its method when no key tells configurations apart.
func configName(keys []string, values map[string]string, method string) string {
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+values[k])
	}
	if len(parts) == 0 {
		return method
	}
	return strings.Join(parts, " ")
}

// flatten returns cfg's JSON fields as dotted keys ("hel.alpha") and
// their JSON values; arrays (the stages) stay whole.
func flatten(cfg checkpoint.Config) (map[string]string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var tree map[string]any
	if err := json.Unmarshal(b, &tree); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				walk(prefix+k+".", x)
			}
			return
		}
		s, _ := json.Marshal(v)
		out[strings.TrimSuffix(prefix, ".")] = strings.Trim(string(s), `"`)
	}
	walk("", tree)
	return out, nil
}

// read loads the run's checkpoint state and evaluation records. A missing
// checkpoint is an error unless optional (a sweep run not started yet); a
// file that is there but unreadable always is, and so is a record of
// another checkpoint than the run's (evaluate.ErrForeign: copied or linked
// from another run).
func (r *Run) read(optional bool) error {
	path := filepath.Join(r.Dir, checkpoint.File)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if !optional {
			if _, err := os.Stat(r.Dir); err != nil {
				return fmt.Errorf("run %s: %w", r.Dir, err)
			}
			return fmt.Errorf("%s: not a run directory (no %s; give a sweep directory, which holds %s, or run directories of taetctl fit)",
				r.Dir, checkpoint.File, sweep.ManifestFile)
		}
	} else {
		st, _, err := checkpoint.Load(path)
		if err != nil {
			return err
		}
		r.State = &st
	}
	files, err := filepath.Glob(filepath.Join(r.Dir, evaluate.RecordDir, "*.json"))
	if err != nil {
		return err
	}
	r.Records = map[string]evaluate.Record{}
	for _, f := range files {
		rec, err := evaluate.LoadRecord(f)
		if err != nil {
			return err
		}
		if r.State != nil {
			if err := rec.Of(r.State.SHA256); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
		}
		r.Records[strings.TrimSuffix(filepath.Base(f), ".json")] = rec
	}
	return nil
}
