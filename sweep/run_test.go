package sweep

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/runlock"
	"github.com/taet-ml/taet/internal/safetensors"
	"github.com/taet-ml/taet/internal/testenv"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/train"
)

// tinyGrid is a 2×2 sweep of tiny fits on a few hundred Fashion-MNIST
// images: a 1/16-width ResNet-18, one CE and one HEL epoch, one small
// evaluation.
func tinyGrid() Grid {
	return Grid{
		Settings: []train.Setting{
			{Key: "n_max", Value: "40"}, {Key: "width", Value: "0.0625"}, {Key: "stages", Value: "ce:1+hel:1"},
			{Key: "batch", Value: "32"}, {Key: "pgd.steps", Value: "2"}, {Key: "eval_size", Value: "20"},
			{Key: "eval.attacks", Value: "fgsm"}, {Key: "eval.limit", Value: "20"},
		},
		Axes: []Axis{{Key: "method", Values: []string{"taet", "at"}}, {Key: "seed", Values: []string{"0", "1"}}},
	}
}

func needFashionMNIST(t *testing.T) {
	t.Helper()
	ortest.Init(t)
	if _, err := os.Stat(data.FashionMNISTDebianDir); err != nil {
		testenv.Missing(t, "needs Debian's Fashion-MNIST (make deb): %v", err)
	}
}

// TestRunLocalResumesWithoutLosingWork runs a 2×2 sweep, cancels it when
// the second run has checkpointed its first epoch, and runs it again two
// at a time: the first run, finished before the cancel, is not touched
// again (its checkpoint keeps its bytes and time), the second continues
// from epoch 1 instead of starting over, and every run ends with its
// checkpoint at the last epoch and its evaluation record.
func TestRunLocalResumesWithoutLosingWork(t *testing.T) {
	needFashionMNIST(t)
	dir := t.TempDir()
	m, err := Expand(tinyGrid())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = RunLocal(ctx, dir, Options{Jobs: 1, Threads: 2, Progress: func(e Event) {
		if e.Run.Index == 1 && e.State.Stage == Fitting && e.State.Epoch == 1 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled RunLocal: %v, want context.Canceled", err)
	}
	if s := StateOf(dir, m.Runs[0]); s.Stage != Finished {
		t.Fatalf("run 0 after the cancel: %v, want finished", s)
	}
	if s := StateOf(dir, m.Runs[1]); s.Stage != Fitting || s.Epoch != 1 {
		t.Fatalf("run 1 after the cancel: %v, want fitting at epoch 1/2", s)
	}
	if s := StateOf(dir, m.Runs[2]); s.Stage != Pending {
		t.Fatalf("run 2 after the cancel: %v, want pending", s)
	}
	ckpt0 := filepath.Join(dir, m.Runs[0].Dir, checkpoint.File)
	before, err := os.ReadFile(ckpt0)
	if err != nil {
		t.Fatal(err)
	}
	fi0, _ := os.Stat(ckpt0)
	rec0 := RecordPath(dir, m.Runs[0], m.Runs[0].Evals[0])
	fr0, _ := os.Stat(rec0)

	if _, err := RunLocal(context.Background(), dir, Options{Jobs: 2, Threads: 2, Kernels: ort.Standard}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(ckpt0)
	fi, _ := os.Stat(ckpt0)
	fr, _ := os.Stat(rec0)
	if !bytes.Equal(before, after) || !fi.ModTime().Equal(fi0.ModTime()) || !fr.ModTime().Equal(fr0.ModTime()) {
		t.Error("the rerun wrote run 0's checkpoint or record again, though run 0 had finished")
	}
	log1, _ := os.ReadFile(filepath.Join(dir, m.Runs[1].Dir, LogFile))
	if !strings.Contains(string(log1), "resuming at epoch 2") {
		t.Errorf("run 1 did not resume from its checkpoint at epoch 1; its log:\n%s", log1)
	}
	for _, r := range m.Runs {
		if s := StateOf(dir, r); s.Stage != Finished {
			t.Errorf("%s: %v, want finished", r.Name, s)
		}
		st, _, err := checkpoint.Load(filepath.Join(dir, r.Dir))
		if err != nil || st.Epoch != 2 || len(st.Metrics) != 2 {
			t.Errorf("%s: checkpoint at epoch %d with %d metrics (%v), want 2 and 2", r.Name, st.Epoch, len(st.Metrics), err)
		}
		if r.Name != m.Runs[0].Name && st.Config.CPUKernels != "standard" { // the rerun's kernels
			t.Errorf("%s: fitted with the %q CPU kernels, want the rerun's standard ones", r.Name, st.Config.CPUKernels)
		}
		rec, err := evaluate.LoadRecord(RecordPath(dir, r, r.Evals[0]))
		if err != nil {
			t.Errorf("%s: %v", r.Name, err)
			continue
		}
		if rec.Images != 20 || len(rec.Results) != 2 || rec.Results[1].Attack != "fgsm" || rec.Eps != r.Fit.PGD.Eps {
			t.Errorf("%s: record of %d images, results %d, eps %v", r.Name, rec.Images, len(rec.Results), rec.Eps)
		}
	}
	// Everything finished: a third RunLocal does nothing.
	if _, err := RunLocal(context.Background(), dir, Options{Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(ckpt0); !bytes.Equal(again, before) {
		t.Error("a run of a finished sweep rewrote a checkpoint")
	}
}

// TestRunTaskFailureIsRecorded checks that a run that cannot work fails
// with its error in FailedFile, which status shows, and that RunLocal
// names it.
func TestRunTaskFailureIsRecorded(t *testing.T) {
	needFashionMNIST(t)
	dir := t.TempDir()
	g := tinyGrid()
	g.Axes = nil
	g.Settings = append(g.Settings, train.Setting{Key: "data", Value: filepath.Join(dir, "nowhere")})
	m, err := Expand(g)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, m); err != nil {
		t.Fatal(err)
	}
	_, err = RunLocal(context.Background(), dir, Options{})
	if err == nil || !strings.Contains(err.Error(), m.Runs[0].Name) {
		t.Fatalf("RunLocal: %v, want an error naming %s", err, m.Runs[0].Name)
	}
	if s := StateOf(dir, m.Runs[0]); s.Stage != Failed || !strings.Contains(s.Err, "nowhere") {
		t.Errorf("state %v, want failed with the missing data path", s)
	}
	if err := RunTask(context.Background(), dir, 1, Options{}); !errors.Is(err, ErrIndex) {
		t.Errorf("RunTask index 1 of 1 run: %v, want ErrIndex", err)
	}
}

// TestStateOfBrokenFiles checks the states a run's own files give, and
// that a corrupt checkpoint, an invalid record and another run's record
// make it broken with the reason, never pending or finished.
func TestStateOfBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	m, err := Expand(tinyGrid())
	if err != nil {
		t.Fatal(err)
	}
	r, other := m.Runs[0], m.Runs[1]
	run := filepath.Join(dir, r.Dir)
	if s := StateOf(dir, r); s.Stage != Pending {
		t.Fatalf("no files: %v, want pending", s)
	}
	save := func(r Run, w float32) checkpoint.State {
		t.Helper()
		st := checkpoint.State{Config: r.Fit, Epoch: r.Fit.Epochs(), Classes: 10}
		if err := os.MkdirAll(filepath.Join(dir, r.Dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := checkpoint.Save(filepath.Join(dir, r.Dir), st, []safetensors.Tensor{{Name: "w", Shape: []int64{1}, Data: []float32{w}}}); err != nil {
			t.Fatal(err)
		}
		st, _, err := checkpoint.Load(filepath.Join(dir, r.Dir))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st, otherSt := save(r, 1), save(other, 2)
	record := func(identity string) evaluate.Record {
		return evaluate.Record{Format: evaluate.RecordFormat, Checkpoint: "somewhere", Identity: identity, TestIR: 1, Images: 2, Eps: 0.03,
			Results: []evaluate.AttackRecord{{Attack: "clean", Balanced: 0.5, Accuracy: 0.5, Recall: []float64{1, 0}, Support: []int{1, 1}}}}
	}
	path := RecordPath(dir, r, r.Evals[0])
	if s := StateOf(dir, r); s.Stage != Evaluating {
		t.Fatalf("fitted: %v, want evaluating", s)
	}
	for _, tc := range []struct {
		name  string
		rec   evaluate.Record
		stage Stage
		err   string
	}{
		{"own record", record(st.SHA256), Finished, ""},
		{"a record without identity", record(""), Finished, ""},
		{"another run's record", record(otherSt.SHA256), Broken, "another checkpoint"},
		{"balanced robustness 42", func() evaluate.Record { x := record(st.SHA256); x.Results[0].Balanced = 42; return x }(), Broken, "balanced_robustness 42"},
	} {
		if err := tc.rec.Save(path); err != nil {
			t.Fatal(err)
		}
		if s := StateOf(dir, r); s.Stage != tc.stage || !strings.Contains(s.Err, tc.err) {
			t.Errorf("%s: %v, want %s with %q", tc.name, s, tc.stage, tc.err)
		}
	}
	if err := os.WriteFile(filepath.Join(run, checkpoint.File), []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := StateOf(dir, r); s.Stage != Broken || !strings.Contains(s.Err, checkpoint.File) {
		t.Errorf("a corrupt checkpoint: %v, want broken naming it", s)
	}
	if err := os.WriteFile(filepath.Join(run, FailedFile), []byte("an older failure\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := StateOf(dir, r); s.Stage != Broken {
		t.Errorf("a corrupt checkpoint and an older failure: %v, want broken", s)
	}
}

// TestRunLocalLeavesRunsToOtherProcesses holds a run's fit lock as
// another `sweep run` would: RunLocal leaves that run alone and names it,
// without calling it a failure or writing FailedFile.
func TestRunLocalLeavesRunsToOtherProcesses(t *testing.T) {
	dir := t.TempDir()
	g := tinyGrid()
	g.Axes = nil
	m, err := Expand(g)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, m); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, m.Runs[0].Dir)
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := runlock.Acquire(filepath.Join(run, train.LockFile))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	sum, err := RunLocal(context.Background(), dir, Options{})
	if err != nil || sum.Runs != 1 || sum.Finished != 0 || len(sum.Elsewhere) != 1 || sum.Elsewhere[0] != m.Runs[0].Name {
		t.Errorf("RunLocal: %+v, %v; want the run left to the lock's holder, no error", sum, err)
	}
	if _, err := os.Stat(filepath.Join(run, FailedFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s written for a run another process holds: %v", FailedFile, err)
	}
}
