// Package sweep expands a grid of fit and evaluation settings into runs,
// records them in a manifest (SWEEP/sweep.json) and runs them.
package sweep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/internal/atomicfile"
	"github.com/taet-ml/taet/internal/boundedfile"
	"github.com/taet-ml/taet/train"
)

// ManifestFile is the manifest's name in a sweep directory.
const ManifestFile = "sweep.json"

// ManifestFormat names the manifest's layout.
const ManifestFormat = "taet-sweep/1"

// Manifest is a sweep's grid and its runs, in a fixed order: run i is
// Slurm array task i.
type Manifest struct {
	Format string `json:"format"` // ManifestFormat
	Axes   []Axis `json:"axes"`
	Runs   []Run  `json:"runs"`
}

// Axis is one swept setting and its values, in the order given.
type Axis struct {
	Key    string   `json:"key"` // "method", "ir", "seed", "hel.alpha", …
	Values []string `json:"values"`
}

// Run is one point of the grid: a fit, then its evaluations.
type Run struct {
	Index int    `json:"index"`
	Name  string `json:"name"` // stable and unique in the sweep
	// Dir is the run's directory relative to the sweep directory: the
	// fit's output (checkpoint, metrics.jsonl), its log, and under
	// evaluate.RecordDir one record per evaluation.
	Dir string `json:"dir"`
	// Values are the run's value of each axis, by key, and for a variant
	// axis also the settings the variant makes.
	Values map[string]string `json:"values"`
	Fit    checkpoint.Config `json:"fit"`
	Evals  []Eval            `json:"evals"`
}

// Eval is one evaluation of a run's final checkpoint.
type Eval struct {
	// Label names the record: Run.Dir/eval/<Label>.json.
	Label   string   `json:"label"`
	Suite   string   `json:"suite,omitempty"`
	Attacks []string `json:"attacks,omitempty"` // instead of Suite
	Eps     float64  `json:"eps"`
	TestIR  float64  `json:"test_ir"` // 1: the test set as is
	Limit   int      `json:"limit"`   // 0: every test image
	Seed    uint64   `json:"seed"`
	Batch   int      `json:"batch"`
	Tail    int      `json:"tail"` // classes in the tail view; 0: evaluate.DefaultTail
}

// ManifestCap is the size of the largest manifest Load reads and Init
// writes: a run takes about 1.5 KiB, so some 170,000 runs.
const ManifestCap = 256 << 20

// Load reads the manifest of the sweep in dir, of at most ManifestCap
// bytes (else an error wrapping boundedfile.ErrTooLarge).
func Load(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := boundedfile.ReadFile(path, ManifestCap, "a sweep manifest")
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: not a sweep manifest: %w", path, err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("%s: format %q, want %q", path, m.Format, ManifestFormat)
	}
	return &m, nil
}

// ErrExists is wrapped by Init's error when the directory holds another sweep.
var ErrExists = errors.New("holds a different sweep")

// ErrHoldsFit is wrapped by Init's error when the directory holds a fit.
var ErrHoldsFit = errors.New("holds a fit, not a sweep")

// Init writes m as the manifest of the sweep in dir (atomically), creating
// dir. If dir already holds a manifest, Init changes nothing: it returns
// false if that manifest equals m, an error wrapping ErrExists otherwise.
// A directory that holds a fit (its checkpoint or lock file) is refused
// with an error wrapping ErrHoldsFit: a sweep's runs live in runs/, not
// beside a fit's files.
func Init(dir string, m *Manifest) (created bool, err error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return false, err
	}
	b = append(b, '\n')
	path := filepath.Join(dir, ManifestFile)
	if len(b) > ManifestCap {
		return false, fmt.Errorf("%s: %d runs make %s, over the cap of %s that Load reads: split the grid", path, len(m.Runs), boundedfile.Size(int64(len(b))), boundedfile.Size(ManifestCap))
	}
	if old, err := Load(dir); err == nil {
		ob, _ := json.MarshalIndent(old, "", "  ")
		if bytes.Equal(append(ob, '\n'), b) {
			return false, nil
		}
		return false, fmt.Errorf("%s %w (%s): choose another directory, or remove it to start over", dir, ErrExists, firstDifference(old, m))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	for _, f := range []string{checkpoint.File, train.LockFile} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return false, fmt.Errorf("%s %w (%s): choose another directory for the sweep", dir, ErrHoldsFit, f)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	return true, atomicfile.Write(path, b)
}

// firstDifference says where two manifests differ first.
func firstDifference(old, m *Manifest) string {
	if !reflect.DeepEqual(old.Axes, m.Axes) {
		return fmt.Sprintf("axes %v there, %v now", old.Axes, m.Axes)
	}
	for i := range min(len(old.Runs), len(m.Runs)) {
		if !reflect.DeepEqual(old.Runs[i], m.Runs[i]) {
			return fmt.Sprintf("run %s has other settings", m.Runs[i].Name)
		}
	}
	return fmt.Sprintf("%d runs there, %d now", len(old.Runs), len(m.Runs))
}
