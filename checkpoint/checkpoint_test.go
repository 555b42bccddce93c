package checkpoint_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/internal/safetensors"
)

// TestSaveLoad writes a checkpoint and reads it back, then flips one byte of
// tensor data: the checksum must catch it.
func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	st := checkpoint.State{Config: checkpoint.Config{Method: "taet", Model: "resnet18"}, Epoch: 3, Classes: 2, Image: []int64{1, 2, 2},
		Params: []string{"w"}}
	ts := []safetensors.Tensor{{Name: "w", Shape: []int64{2, 2}, Data: []float32{1, 2, 3, 4}}}
	if err := checkpoint.Save(dir, st, ts); err != nil {
		t.Fatal(err)
	}
	got, gotTs, err := checkpoint.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != 3 || got.Config.Model != "resnet18" || len(got.SHA256) != 64 || !reflect.DeepEqual(gotTs, ts) {
		t.Errorf("read back %+v %v", got, gotTs)
	}
	file := filepath.Join(dir, checkpoint.File)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x40 // the last byte is tensor data
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := checkpoint.Load(file); !errors.Is(err, checkpoint.ErrCheckpoint) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("corrupted checkpoint: %v, want ErrCheckpoint for the checksum", err)
	}
}
