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

// TestMetadataIsChecked edits the epoch in a saved checkpoint's header
// (same length, so the file still parses) and breaks its JSON: both are
// reported, each as what it is.
func TestMetadataIsChecked(t *testing.T) {
	dir := t.TempDir()
	st := checkpoint.State{Config: checkpoint.Config{Model: "resnet18"}, Epoch: 3, Params: []string{"w"}}
	ts := []safetensors.Tensor{{Name: "w", Shape: []int64{1}, Data: []float32{1}}}
	if err := checkpoint.Save(dir, st, ts); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, checkpoint.File)
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ old, new, want string }{
		{`\"epoch\":3`, `\"epoch\":7`, "metadata checksum"},
		{`\"epoch\":3`, `\"epoch\":}`, "not valid JSON"},
	} {
		b := []byte(strings.Replace(string(orig), tc.old, tc.new, 1))
		if string(b) == string(orig) {
			t.Fatalf("no %s in the header: %.300s", tc.old, orig)
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := checkpoint.Load(file); !errors.Is(err, checkpoint.ErrCheckpoint) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s → %s: %v, want ErrCheckpoint saying %q", tc.old, tc.new, err, tc.want)
		}
	}
}

// TestRoBalNetworkNeedsCounts: a checkpoint with a robal stage loads with
// RoBal's adjustment, which needs the training counts of its split record;
// without them NetworkFrom says so (ErrCheckpoint).
func TestRoBalNetworkNeedsCounts(t *testing.T) {
	st := checkpoint.State{Config: checkpoint.Config{Model: "resnet18", Width: 1.0 / 16, Stages: []checkpoint.Stage{{Name: "robal", Epochs: 1}}, RoBal: checkpoint.RoBal{S: 10, TauP: 1}},
		Classes: 3, Image: []int64{1, 8, 8}}
	_, err := checkpoint.NetworkFrom(st, nil)
	if !errors.Is(err, checkpoint.ErrCheckpoint) || !strings.Contains(err.Error(), "training class counts") {
		t.Errorf("no counts: %v, want an ErrCheckpoint about the training class counts", err)
	}
}
