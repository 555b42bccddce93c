// Package checkpoint is a fit's state on disk: one safetensors file with the
// parameters and BatchNorm statistics, the optimizer state and a State (the
// resolved Config, where the fit stands, the data split record, the metrics
// so far and a SHA-256 of the tensors), written atomically and verified on
// reading. Network rebuilds the trained network from it.
package checkpoint

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/internal/atomicfile"
	"github.com/taet-ml/taet/internal/safetensors"
)

// File is the checkpoint's name inside a run directory.
const File = "checkpoint.safetensors"

// MetricsFile is the per-epoch metrics log inside a run directory (JSON Lines).
const MetricsFile = "metrics.jsonl"

// MomentumPrefix names the optimizer state of parameter p "optimizer.momentum.<p>".
const MomentumPrefix = "optimizer.momentum."

// State is what a checkpoint stores besides the tensors.
type State struct {
	Format  string `json:"format"` // "taet-checkpoint/1"
	Version string `json:"taet_version"`
	Config  Config `json:"config"`
	Epoch   int    `json:"epoch"` // the epoch to run next (0-based)
	Step    int    `json:"step"`  // the step of Epoch to run next (0 at an epoch boundary)
	// LossSum and LossSteps carry Epoch's training-loss average over an
	// interruption mid-epoch.
	LossSum   float64           `json:"loss_sum,omitempty"`
	LossSteps int               `json:"loss_steps,omitempty"`
	Split     data.SplitRecord  `json:"split"`
	Classes   int               `json:"classes"`
	Image     []int64           `json:"image"` // [C, H, W]
	Metrics   []EpochMetrics    `json:"metrics"`
	Params    []string          `json:"params"` // parameter and buffer names, in graph order
	SHA256    string            `json:"sha256"` // of the tensors' data, in file order
	Extra     map[string]string `json:"extra,omitempty"`
}

const checkpointFormat = "taet-checkpoint/1"

// ErrCheckpoint is wrapped by every error reading a checkpoint.
var ErrCheckpoint = errors.New("bad checkpoint")

// Save writes st with the tensors atomically to dir/File, setting
// st.Format and st.SHA256.
func Save(dir string, st State, tensors []safetensors.Tensor) error {
	st.Format = checkpointFormat
	st.SHA256 = tensorsHash(tensors)
	meta, err := json.Marshal(st)
	if err != nil {
		return err
	}
	b, err := safetensors.Encode(tensors, map[string]string{"taet": string(meta)})
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, File), b)
}

// Load reads a checkpoint file (or a run directory holding one),
// verifying its format and checksum. Errors wrap ErrCheckpoint.
func Load(path string) (State, []safetensors.Tensor, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, File)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return State{}, nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	tensors, meta, err := safetensors.Decode(b)
	if err != nil {
		return State{}, nil, fmt.Errorf("%w: %s: %v", ErrCheckpoint, path, err)
	}
	var st State
	if err := json.Unmarshal([]byte(meta["taet"]), &st); err != nil || st.Format != checkpointFormat {
		return State{}, nil, fmt.Errorf("%w: %s: no taet metadata (format %q, want %q)", ErrCheckpoint, path, st.Format, checkpointFormat)
	}
	if got := tensorsHash(tensors); got != st.SHA256 {
		return State{}, nil, fmt.Errorf("%w: %s: tensor data checksum %s, recorded %s (file corrupted?)", ErrCheckpoint, path, got, st.SHA256)
	}
	return st, tensors, nil
}

// tensorsHash returns the SHA-256 of the tensors' names, shapes and data.
func tensorsHash(ts []safetensors.Tensor) string {
	h := sha256.New()
	var buf [8]byte
	for _, t := range ts {
		h.Write([]byte(t.Name))
		for _, d := range t.Shape {
			binary.LittleEndian.PutUint64(buf[:], uint64(d))
			h.Write(buf[:])
		}
		for _, f := range t.Data {
			binary.LittleEndian.PutUint32(buf[:4], math.Float32bits(f))
			h.Write(buf[:4])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
