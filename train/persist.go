package train

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/internal/atomicfile"
	"github.com/taet-ml/taet/internal/safetensors"
)

// save writes the checkpoint and rewrites metrics.jsonl from the state.
func (f *fitter) save() error {
	if err := f.syncFromDevice(); err != nil {
		return err
	}
	f.st.Version = Version
	var ts []safetensors.Tensor
	for i, pi := range f.p.info {
		ts = append(ts, safetensors.Tensor{Name: pi.Name, Shape: pi.Shape, Data: f.p.tensors[i].Data()})
	}
	for _, pi := range f.p.info {
		if pi.Trainable {
			ts = append(ts, safetensors.Tensor{Name: checkpoint.MomentumPrefix + pi.Name, Shape: pi.Shape, Data: f.p.velocity[pi.Name]})
		}
	}
	if err := checkpoint.Save(f.dir, f.st, ts); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	var lines []byte
	for _, m := range f.st.Metrics {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		lines = append(append(lines, b...), '\n')
	}
	return atomicfile.Write(filepath.Join(f.dir, checkpoint.MetricsFile), lines)
}
