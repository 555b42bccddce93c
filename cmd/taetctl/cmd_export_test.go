package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/taet-ml/taet/checkpoint"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taet-ml/taet/export"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/safetensors"
	"github.com/taet-ml/taet/internal/synthdata"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/sweep"
	"github.com/taet-ml/taet/train"
)

// nopObserver ignores a fit's progress.
type nopObserver struct{}

func (nopObserver) Started(train.Run)            {}
func (nopObserver) StepDone(train.StepEvent)     {}
func (nopObserver) EpochDone(train.EpochMetrics) {}
func (nopObserver) Evaluating(int)               {}

// tinyRun trains a 1/8-width ResNet-18 for one epoch on tinyIDX data and
// returns the run directory.
func tinyRun(t *testing.T) string {
	t.Helper()
	return tinyRunOf(t, 200, 20)
}

// tinyRunOf is tinyRun on a data set of n training and n/2 test images,
// nMax of them in the head class (0: all).
func tinyRunOf(t *testing.T, n, nMax int) string {
	t.Helper()
	cfg, err := train.Preset("taet")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Method, cfg.Stages = "custom", []train.Stage{{Name: "ce", Epochs: 1}}
	cfg.Dataset, cfg.DataPath = "fashion-mnist", synthdata.FashionIDX(t, n, 12)
	cfg.IR, cfg.NMax = 2, nMax
	cfg.Width, cfg.Batch, cfg.EvalSize, cfg.Threads = 1.0/8, 16, 16, 1
	cfg.PGD.Steps = 2
	dir := filepath.Join(t.TempDir(), "run")
	if _, err := train.Fit(context.Background(), cfg, dir, false, nopObserver{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestExport exports a freshly trained checkpoint in every form and checks
// the files with inspect, the ONNX checker and torch-free safetensors reads.
func TestExport(t *testing.T) {
	ortest.Init(t)
	run := tinyRun(t)
	dir := t.TempDir()
	base := exportOptions{Checkpoint: run, Format: "onnx", Samples: 8, Tolerance: export.DefaultTolerance}

	t.Run("onnx", func(t *testing.T) {
		o := base
		o.Out = filepath.Join(dir, "model.onnx")
		var out bytes.Buffer
		if err := runExport(o, globalOptions{Threads: 1}, &out); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"wrote ONNX model", "x float32 [N,1,12,12] → logits float32 [N,10]", "folded into 20 convolutions", "verified    8 random images"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
		s := inspectJSON(t, o.Out)
		if s.Ops["BatchNormalization"] != 0 || s.Ops["Conv"] != 20 {
			t.Errorf("ops %v: want 20 Conv and no BatchNormalization", s.Ops)
		}
		for k, v := range map[string]string{"model": "resnet18", "method": "custom", "stages": "ce:1", "dataset": "fashion-mnist",
			"imbalance_ratio": "2", "batchnorm": "folded", "taet_version": version, "input_range": "[0,1]"} {
			if s.Metadata[k] != v {
				t.Errorf("metadata %s = %q, want %q", k, s.Metadata[k], v)
			}
		}
		var names []string
		if err := json.Unmarshal([]byte(s.Metadata["class_names"]), &names); err != nil || len(names) != 10 || names[9] != "Ankle boot" {
			t.Errorf("class_names %q: want Fashion-MNIST's (%v)", s.Metadata["class_names"], err)
		}
		if _, ok := s.Metadata["clean_bacc"]; !ok {
			t.Error("metadata lacks clean_bacc")
		}
		m, err := onnx.ReadFile(o.Out)
		if err != nil {
			t.Fatal(err)
		}
		ortest.Check(t, &graphs.Model{Proto: m})
	})

	t.Run("onnx-test-images-no-fold", func(t *testing.T) {
		o := base
		o.Out, o.NoFoldBN, o.UseData = filepath.Join(dir, "bn.onnx"), true, true
		var out bytes.Buffer
		if err := runExport(o, globalOptions{JSON: true, Threads: 1}, &out); err != nil {
			t.Fatal(err)
		}
		var r exportReport
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", out.String(), err)
		}
		if r.MessageType != "export" || r.FoldedBN != 0 || r.Verify == nil || r.Verify.Images != "fashion-mnist test" || r.Verify.Batch != 8 {
			t.Errorf("report %s", out.String())
		}
		if s := inspectJSON(t, o.Out); s.Ops["BatchNormalization"] != 20 || s.Metadata["batchnorm"] != "kept" {
			t.Errorf("--no-fold-bn: ops %v, batchnorm %q", s.Ops, s.Metadata["batchnorm"])
		}
	})

	t.Run("safetensors", func(t *testing.T) {
		o := base
		o.Out, o.Format = filepath.Join(dir, "model.safetensors"), "safetensors"
		if err := runExport(o, globalOptions{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(o.Out)
		if err != nil {
			t.Fatal(err)
		}
		tensors, meta, err := safetensors.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		st, _, err := checkpoint.Load(run)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, ts := range tensors {
			names = append(names, ts.Name)
		}
		if !slices.Equal(names, st.Params) || meta["model"] != "resnet18" || meta["stem"] != "cifar" {
			t.Errorf("tensors %v, metadata %v: want the checkpoint's parameters %v", names, meta, st.Params)
		}
	})

	t.Run("test-images-of-another-shape", func(t *testing.T) {
		o := base
		o.Out, o.UseData, o.Dataset, o.Data = filepath.Join(dir, "other.onnx"), true, "mnist", synthdata.FashionIDX(t, 20, 10)
		err := runExport(o, globalOptions{Threads: 1}, &bytes.Buffer{})
		if exitCode(context.Background(), err) != exitData || !strings.Contains(err.Error(), "expected 10 classes of [1 12 12]") {
			t.Fatalf("error %v: want a data error about the image shape", err)
		}
	})

	t.Run("failed-verification-writes-nothing", func(t *testing.T) {
		o := base
		o.Out, o.Tolerance = filepath.Join(dir, "strict.onnx"), 1e-12 // folding changes rounding
		if err := os.WriteFile(o.Out, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := runExport(o, globalOptions{Threads: 1}, &bytes.Buffer{})
		if !errors.Is(err, export.ErrMismatch) || exitCode(context.Background(), err) != exitError {
			t.Fatalf("error %v: want ErrMismatch, exit %d", err, exitError)
		}
		if b, _ := os.ReadFile(o.Out); string(b) != "old" {
			t.Errorf("%s was overwritten after a failed verification", o.Out)
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("left behind %s", e.Name())
			}
		}
	})
}

// TestExportErrors checks the exit codes of bad arguments and checkpoints;
// none of them needs ONNX Runtime.
func TestExportErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.safetensors")
	if err := os.WriteFile(corrupt, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.onnx")
	// A run directory, a sweep directory, a link to the run and to its
	// checkpoint, and an earlier export: --out may name none of them but
	// the export, and that one with --force.
	run, sw, old := filepath.Join(dir, "run"), filepath.Join(dir, "sweep"), filepath.Join(dir, "old.onnx")
	ckpt := filepath.Join(run, checkpoint.File)
	for _, f := range []string{ckpt, filepath.Join(run, checkpoint.MetricsFile), filepath.Join(sw, sweep.ManifestFile), old} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("someone's"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(ckpt, filepath.Join(dir, "hardlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(run, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want int
		msg  string
	}{
		{[]string{"export", "-c", run, "-o", ckpt}, exitUsage, "is the checkpoint being exported"},
		{[]string{"export", "-c", run, "-o", ckpt, "--force", "--format", "safetensors"}, exitUsage, "is the checkpoint being exported"},
		{[]string{"export", "-c", ckpt, "-o", filepath.Join(dir, "hardlink"), "--force"}, exitUsage, "is the checkpoint being exported"},
		{[]string{"export", "-c", corrupt, "-o", filepath.Join(run, checkpoint.MetricsFile), "--force"}, exitUsage, "belongs to the run in " + run},
		{[]string{"export", "-c", corrupt, "-o", filepath.Join(run, "eval", "new.json")}, exitUsage, "belongs to the run in"},
		{[]string{"export", "-c", corrupt, "-o", filepath.Join(dir, "link", train.LockFile), "--force"}, exitUsage, "belongs to the run in " + run},
		{[]string{"export", "-c", corrupt, "-o", filepath.Join(sw, "runs", "a", "m.onnx")}, exitUsage, "belongs to the run in " + sw},
		{[]string{"export", "-c", corrupt, "-o", old}, exitUsage, "exists: give --force to replace it"},
		{[]string{"export", "-c", corrupt, "-o", old, "--force"}, exitData, "bad checkpoint"},
		{[]string{"export", "-c", corrupt, "-o", filepath.Join(run, "model.onnx")}, exitData, "bad checkpoint"},
		{[]string{"export", "--out", out}, exitUsage, "--checkpoint is required"},
		{[]string{"export", "-c", corrupt}, exitUsage, "--out is required"},
		{[]string{"export", "-c", corrupt, "-o", out, "--format", "pt"}, exitUsage, `--format "pt"`},
		{[]string{"export", "-c", corrupt, "-o", out, "--tolerance", "0"}, exitUsage, "--tolerance"},
		{[]string{"export", "-c", corrupt, "-o", out, "extra"}, exitUsage, "no arguments"},
		{[]string{"export", "-c", corrupt, "-o", filepath.Join(dir, "nodir", "m.onnx")}, exitUsage, "no directory"},
		{[]string{"export", "-c", corrupt, "-o", dir}, exitUsage, "is a directory"},
		{[]string{"export", "-c", filepath.Join(dir, "missing"), "-o", out}, exitData, "bad checkpoint"},
		{[]string{"export", "-c", corrupt, "-o", out}, exitData, "bad checkpoint"},
		{[]string{"export", "-c", corrupt, "-o", out, "--format", "safetensors"}, exitData, "bad checkpoint"},
	} {
		t.Run(strings.ReplaceAll(strings.Join(tc.args, " "), dir, "DIR"), func(t *testing.T) {
			err := runTaetctl(tc.args...)
			if got := exitCode(context.Background(), err); got != tc.want || err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("exit %d, error %v; want exit %d and an error saying %q", got, err, tc.want, tc.msg)
			}
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s exists after failed exports", out)
	}
}

// runTaetctl runs the app on args (after "taetctl"), discarding its output.
func runTaetctl(args ...string) error {
	app := newApp(&globalOptions{})
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	return app.RunContext(context.Background(), append([]string{"taetctl"}, args...))
}
