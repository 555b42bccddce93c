package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/internal/safetensors"
	"github.com/taet-ml/taet/sweep"
)

// The second probe's cases (issue 23): bounded inputs, one meaning per
// flag, honest sweeps and whole reports. Rows in docs/reliability.md,
// section "Second probe: inputs, sweeps, reports".
func init() {
	addFailureCases(map[string]failureCase{
		"`eval --batch 100000 --limit 20`": func(t *testing.T, bin, dir string) (int, string) {
			return runBin(t, bin, nil, "eval", "--checkpoint", tinyRun(t), "--attacks", "fgsm", "--limit", "20", "--batch", "100000",
				"--state", filepath.Join(dir, "state.json"))
		},
		"`sweep init` with a 10⁶-run grid (`--seed 0,…,999 --eval-seed 0,…,999`)": func(t *testing.T, bin, dir string) (int, string) {
			seeds := seq(1000)
			code, out := runBin(t, bin, nil, "sweep", "init", "--out", filepath.Join(dir, "sweep"), "--seed", seeds, "--eval-seed", seeds)
			if _, err := os.Stat(filepath.Join(dir, "sweep")); err == nil {
				t.Error("the refused sweep was written")
			}
			return code, out
		},
		"`sweep init` of 3000 runs with `--max-runs 5000`": func(t *testing.T, bin, dir string) (int, string) {
			code, out := runBin(t, bin, nil, "sweep", "init", "--out", filepath.Join(dir, "sweep"), "--max-runs", "5000",
				"--seed", seq(1000), "--eval-seed", "0,1,2")
			if n := strings.Count(out, "\n"); n > 10 {
				t.Errorf("%d lines printed, want a summary", n)
			}
			return code, out
		},
		"An evaluation record, evaluation state or `sweep.json` of 600 MB": func(t *testing.T, bin, dir string) (int, string) {
			run := fakeRun(t, filepath.Join(dir, "run"), checkpoint.Config{Method: "taet", Dataset: "fashion-mnist", IR: 10,
				Stages: []checkpoint.Stage{{Name: "ce", Epochs: 1}}}, 0)
			big := filepath.Join(run, evaluate.RecordDir, "main.json")
			if err := os.MkdirAll(filepath.Dir(big), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.Create(big)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(600 << 20); err != nil { // sparse: 600 MB read as zeros, none on disk
				t.Fatal(err)
			}
			f.Close()
			return runBin(t, bin, nil, "report", run, "--out", filepath.Join(dir, "report"))
		},
		"A record with `1e308`, or `balanced_robustness` −5 or 42": func(t *testing.T, bin, dir string) (int, string) {
			run := fakeRun(t, filepath.Join(dir, "run"), checkpoint.Config{Method: "taet", Dataset: "fashion-mnist", IR: 10,
				Stages: []checkpoint.Stage{{Name: "ce", Epochs: 1}}}, 0)
			rec := goodRecord("")
			rec.Results[1].Balanced = 42
			if err := rec.Save(filepath.Join(run, evaluate.RecordDir, "main.json")); err != nil {
				t.Fatal(err)
			}
			code, out := runBin(t, bin, nil, "report", run, "--out", filepath.Join(dir, "report"))
			if _, err := os.Stat(filepath.Join(dir, "report")); err == nil {
				t.Error("a report of the bad record was written")
			}
			return code, out
		},
		"A flag given twice (`--method taet --method at`), in any command": func(t *testing.T, bin, dir string) (int, string) {
			return runBin(t, bin, nil, "sweep", "init", "--out", filepath.Join(dir, "sweep"), "--method", "taet", "--method", "at")
		},
		"Axis values that read alike (`--set lr=0.1,0.10`, `--eps 8/255,0.03137254901960784`)": func(t *testing.T, bin, dir string) (int, string) {
			return runBin(t, bin, nil, "sweep", "init", "--out", filepath.Join(dir, "sweep"), "--set", "lr=0.1,0.10")
		},
		"An attack named twice (`--attacks fgsm,fgsm`)": func(t *testing.T, bin, dir string) (int, string) {
			return runBin(t, bin, nil, "eval", "--checkpoint", filepath.Join(dir, "run"), "--attacks", "fgsm,fgsm")
		},
		"Variant names that make one run name (`a/b` and `a_b`)": func(t *testing.T, bin, dir string) (int, string) {
			grid := filepath.Join(dir, "grid.toml")
			if err := os.WriteFile(grid, []byte("[[axes]]\nkey = \"variant\"\nvalues = [{name = \"a/b\", ir = 10}, {name = \"a_b\", ir = 20}]\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return runBin(t, bin, nil, "sweep", "init", "--out", filepath.Join(dir, "sweep"), "--grid", grid)
		},
		"Two `sweep run` processes on one sweep": func(t *testing.T, bin, dir string) (int, string) {
			needFashionMNIST(t)
			sw := filepath.Join(dir, "sweep")
			if code, out := runBin(t, bin, nil, append([]string{"sweep", "init", "--out", sw, "--method", "taet", "--seed", "0,1"}, tinySweepFlags[4:]...)...); code != 0 {
				t.Fatalf("sweep init: exit %d\n%s", code, out)
			}
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				code int
				all  strings.Builder
			)
			for range 2 {
				wg.Go(func() {
					c, out := runBin(t, bin, nil, "--threads", "1", "sweep", "run", sw)
					mu.Lock()
					defer mu.Unlock()
					code = max(code, c)
					fmt.Fprintf(&all, "exit %d:\n%s\n", c, out)
				})
			}
			wg.Wait()
			m, err := sweep.Load(sw)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range m.Runs {
				if s := sweep.StateOf(sw, r); s.Stage != sweep.Finished {
					t.Errorf("%s: %v, want finished", r.Name, s)
				}
			}
			return code, all.String()
		},
		"`sweep status` of a run whose checkpoint is corrupt": func(t *testing.T, bin, dir string) (int, string) {
			sw := filepath.Join(dir, "sweep")
			m := initSweep(t, bin, sw)
			run := filepath.Join(sw, m.Runs[0].Dir)
			if err := os.MkdirAll(run, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(run, checkpoint.File), []byte("half a checkpoint"), 0o644); err != nil {
				t.Fatal(err)
			}
			return runBin(t, bin, nil, "sweep", "status", sw)
		},
		"A record copied or linked from another run (its `checkpoint` is not this run's)": func(t *testing.T, bin, dir string) (int, string) {
			sw := filepath.Join(dir, "sweep")
			m := initSweep(t, bin, sw)
			a, b := m.Runs[0], m.Runs[1]
			fakeRun(t, filepath.Join(sw, a.Dir), a.Fit, 1)
			fakeRun(t, filepath.Join(sw, b.Dir), b.Fit, 2)
			st, _, err := checkpoint.Load(filepath.Join(sw, a.Dir))
			if err != nil {
				t.Fatal(err)
			}
			rec := goodRecord(st.SHA256)
			rec.Checkpoint = filepath.Join(sw, a.Dir, checkpoint.File)
			if err := rec.Save(sweep.RecordPath(sw, a, a.Evals[0])); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(sweep.RecordPath(sw, b, b.Evals[0])), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(sweep.RecordPath(sw, a, a.Evals[0]), sweep.RecordPath(sw, b, b.Evals[0])); err != nil {
				t.Fatal(err)
			}
			if code, out := runBin(t, bin, nil, "report", sw); code != exitData || !strings.Contains(out, "another checkpoint") {
				t.Errorf("report: exit %d, want %d and the record named foreign:\n%s", code, exitData, out)
			}
			return runBin(t, bin, nil, "sweep", "status", sw)
		},
		"`report` onto a full disk": func(t *testing.T, bin, dir string) (int, string) {
			disk := smallDisk(t, "1m")
			run := fakeRun(t, filepath.Join(dir, "run"), checkpoint.Config{Method: "taet", Dataset: "fashion-mnist", IR: 10,
				Stages: []checkpoint.Stage{{Name: "ce", Epochs: 1}}}, 0)
			if err := goodRecord("").Save(filepath.Join(run, evaluate.RecordDir, "main.json")); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(disk, "report")
			if code, msg := runBin(t, bin, nil, "report", run, "--out", out, "--title", "first"); code != 0 {
				t.Fatalf("first report: exit %d\n%s", code, msg)
			}
			before := readTree(t, out)
			fill(t, disk, 48<<10) // room for each figure (under 30 KiB), not for report.html (95 KiB, the figures embedded)
			code, msg := runBin(t, bin, nil, "report", run, "--out", out, "--title", "second")
			if after := readTree(t, out); !equalTrees(before, after) {
				t.Errorf("the failed report changed the previous one: %d files before, %d after", len(before), len(after))
			}
			entries, _ := os.ReadDir(disk)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".report") {
					t.Errorf("%s left behind", e.Name())
				}
			}
			return code, msg
		},
		"`sweep init` into a fit's run directory": func(t *testing.T, bin, dir string) (int, string) {
			fakeRun(t, dir, checkpoint.Config{Method: "taet", Dataset: "fashion-mnist", IR: 10, Stages: []checkpoint.Stage{{Name: "ce", Epochs: 1}}}, 0)
			code, out := runBin(t, bin, nil, "sweep", "init", "--out", dir, "--seed", "0,1")
			if _, err := os.Stat(filepath.Join(dir, sweep.ManifestFile)); err == nil {
				t.Error("a manifest was written beside the fit")
			}
			return code, out
		},
	})
}

// seq returns "0,1,…,n-1".
func seq(n int) string {
	values := make([]string, n)
	for i := range values {
		values[i] = strconv.Itoa(i)
	}
	return strings.Join(values, ",")
}

// initSweep makes a two-run sweep in dir (no fit run) and returns its manifest.
func initSweep(t *testing.T, bin, dir string) *sweep.Manifest {
	t.Helper()
	if code, out := runBin(t, bin, nil, "sweep", "init", "--out", dir, "--seed", "0,1", "--stage", "ce:1", "--attacks", "fgsm"); code != 0 {
		t.Fatalf("sweep init: exit %d\n%s", code, out)
	}
	m, err := sweep.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fakeRun writes into dir a finished fit's checkpoint of cfg without
// training: one tensor of value w (runs with another w have another
// checksum, hence identity).
func fakeRun(t *testing.T, dir string, cfg checkpoint.Config, w float32) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st := checkpoint.State{Config: cfg, Epoch: cfg.Epochs(), Classes: 2}
	for e := range cfg.Epochs() {
		st.Metrics = append(st.Metrics, checkpoint.EpochMetrics{Stage: cfg.StageAt(e).Name, Epoch: e, TrainLoss: 1, Seconds: 1})
	}
	if err := checkpoint.Save(dir, st, []safetensors.Tensor{{Name: "w", Shape: []int64{1}, Data: []float32{w}}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// goodRecord is a valid record of two classes with the given identity.
func goodRecord(identity string) evaluate.Record {
	return evaluate.Record{Format: evaluate.RecordFormat, Identity: identity, Model: "resnet18", Dataset: "fashion-mnist", TestIR: 1,
		Images: 4, Eps: 8.0 / 255, TailClasses: 1, ClassNames: []string{"a", "b"}, TrainCounts: []int{10, 1},
		Results: []evaluate.AttackRecord{
			{Attack: "clean", Balanced: 0.75, Accuracy: 0.75, Recall: []float64{1, 0.5}, Support: []int{2, 2}, TailRecall: 0.5, Worst: 0.5, WorstClass: 1, Seconds: 1},
			{Attack: "fgsm", Balanced: 0.25, Accuracy: 0.25, Recall: []float64{0.5, 0}, Support: []int{2, 2}, Worst: 0, WorstClass: 1, MaxLinf: 8.0 / 255, Seconds: 1},
		}}
}

// smallDisk mounts a tmpfs of size (mount's -o size) for the test, or
// skips it where mounting is not allowed (not root).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("a full disk needs a small tmpfs, which this user cannot mount: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fill fills the file system of dir up to leave bytes.
func fill(t *testing.T, dir string, leave int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, int64(st.Bavail)*st.Bsize-leave), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readTree returns every file under dir by its relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func equalTrees(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
