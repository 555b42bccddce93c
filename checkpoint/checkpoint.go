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
	Format  string `json:"format"` // "taet-checkpoint/2"
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

// The checkpoint formats: /2 adds MetadataSumKey, the SHA-256 of the
// State's JSON, so that the metadata too is covered (the State holds the
// tensors' SHA-256); /1 files are still read, with the tensors checked only.
const (
	checkpointFormat = "taet-checkpoint/2"
	legacyFormat     = "taet-checkpoint/1"
)

// The safetensors metadata keys of a checkpoint: the State as JSON, and
// the hex SHA-256 of exactly those bytes.
const (
	MetadataKey    = "taet"
	MetadataSumKey = "taet_sha256"
)

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
	sum := sha256.Sum256(meta)
	b, err := safetensors.Encode(tensors, map[string]string{MetadataKey: string(meta), MetadataSumKey: hex.EncodeToString(sum[:])})
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
	st, err := parseMetadata(meta)
	if err != nil {
		return State{}, nil, fmt.Errorf("%w: %s: %v", ErrCheckpoint, path, err)
	}
	if got := tensorsHash(tensors); got != st.SHA256 {
		return State{}, nil, fmt.Errorf("%w: %s: tensor data checksum %s, recorded %s (file corrupted?)", ErrCheckpoint, path, got, st.SHA256)
	}
	return st, tensors, nil
}

// parseMetadata checks and parses a checkpoint's safetensors metadata.
func parseMetadata(meta map[string]string) (State, error) {
	var st State
	raw, ok := meta[MetadataKey]
	if !ok {
		return st, fmt.Errorf("no taet metadata (key %q): not a taet checkpoint", MetadataKey)
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return st, fmt.Errorf("taet metadata is not valid JSON (edited or corrupted?): %v", err)
	}
	switch st.Format {
	case legacyFormat:
		return st, nil
	case checkpointFormat:
		sum := sha256.Sum256([]byte(raw))
		if got := hex.EncodeToString(sum[:]); got != meta[MetadataSumKey] {
			return st, fmt.Errorf("taet metadata checksum %.16s…, recorded %.16q (metadata edited or corrupted?)", got, meta[MetadataSumKey])
		}
		return st, nil
	}
	return st, fmt.Errorf("taet metadata of format %q: want %q (a newer taet's checkpoint?)", st.Format, checkpointFormat)
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
