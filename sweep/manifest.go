// Package sweep expands a grid of fit and evaluation settings into runs,
// records them in a manifest (SWEEP/sweep.json) and runs them.
package sweep

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/taet-ml/taet/checkpoint"
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
	// Values are the run's value of each axis, by key.
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

// Load reads the manifest of the sweep in dir.
func Load(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
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
