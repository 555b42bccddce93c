package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/runlock"
	"github.com/taet-ml/taet/internal/synthdata"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/train"
)

// failureCase is one row of docs/reliability.md, made real: run starts the
// binary bin for the case (set up in dir) and returns its exit code and
// everything it printed.
type failureCase func(t *testing.T, bin, dir string) (code int, output string)

// runBin runs bin with args and extra environment.
func runBin(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return exitOf(t, err), string(out)
}

// addFailureCases adds cases to failureCases, so each probe's cases can live
// in a file of their own; a name given twice is a mistake in the tests.
func addFailureCases(cases map[string]failureCase) {
	for name, c := range cases {
		if _, dup := failureCases[name]; dup {
			panic("reliability case " + name + " given twice")
		}
		failureCases[name] = c
	}
}

// failureCases are keyed by the first cell of their row in docs/reliability.md.
var failureCases = map[string]failureCase{
	"A second fit into a run directory another fit is writing": func(t *testing.T, bin, dir string) (int, string) {
		lock, err := runlock.Acquire(filepath.Join(dir, train.LockFile)) // as the first fit holds it
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Release()
		return runBin(t, bin, nil, "fit", "--data", synthdata.FashionIDX(t, 40, 12), "--out", dir)
	},
	"A second eval with the same `--state` while one runs": func(t *testing.T, bin, dir string) (int, string) {
		state := filepath.Join(dir, "state.json")
		lock, err := runlock.Acquire(state + ".lock")
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Release()
		return runBin(t, bin, nil, "eval", "--checkpoint", tinyRun(t), "--attacks", "fgsm", "--state", state)
	},
	"The ONNX Runtime library is truncated (`head -c 100000 libonnxruntime.so.1 > x.so`)": func(t *testing.T, bin, dir string) (int, string) {
		b, err := os.ReadFile(ort.LibraryPath(os.Getenv("TAET_ORT_LIB")))
		if err != nil {
			t.Skip(err)
		}
		lib := filepath.Join(dir, "x.so")
		if err := os.WriteFile(lib, b[:100000], 0o644); err != nil {
			t.Fatal(err)
		}
		return runBin(t, bin, []string{"TAET_ORT_LIB=" + lib}, "version")
	},
	"`--threads 1000` (more than 4 per CPU available; affinity and cgroup quota count)": func(t *testing.T, bin, dir string) (int, string) {
		return runBin(t, bin, nil, "fit", "--threads", "1000", "--out", dir)
	},
	"`--eps nan`, `--lr inf`, `--ir nan` (NaN or ±Inf in any number flag)": func(t *testing.T, bin, dir string) (int, string) {
		return runBin(t, bin, nil, "fit", "--eps", "nan", "--out", dir)
	},
	"`--width 0`, `--n-max -5`": func(t *testing.T, bin, dir string) (int, string) {
		return runBin(t, bin, nil, "fit", "--width", "0", "--data", "/nonexistent", "--out", dir)
	},
	"`--dataset foo`, `--model foo`": func(t *testing.T, bin, dir string) (int, string) {
		return runBin(t, bin, nil, "fit", "--dataset", "foo", "--data", dir, "--out", dir)
	},
	"An unknown flag, in any command": func(t *testing.T, bin, dir string) (int, string) {
		return runBin(t, bin, nil, "eval", "--bogus")
	},
	"`fit --resume` with a flag that contradicts the checkpoint": func(t *testing.T, bin, dir string) (int, string) {
		return runBin(t, bin, nil, "fit", "--resume", "--out", tinyRun(t), "--width", "0.5")
	},
	"Ctrl-C (SIGINT) or SIGTERM during a fit": func(t *testing.T, bin, dir string) (int, string) {
		cmd := exec.Command(bin, "--json", "--threads", "1", "fit", "--data", synthdata.FashionIDX(t, 2000, 12), "--stage", "ce:3",
			"--width", "0.0625", "--batch", "16", "--eval-size", "0", "--out", filepath.Join(dir, "run"))
		stderr, err := runInterrupted(t, cmd, func(line []byte) bool { return bytes.Contains(line, []byte(`"message_type":"status"`)) })
		return exitOf(t, err), stderr
	},
	"The loss becomes NaN or infinite": func(t *testing.T, bin, dir string) (int, string) {
		return runBin(t, bin, nil, "fit", "--data", synthdata.FashionIDX(t, 200, 12), "--stage", "ce:1", "--width", "0.0625",
			"--batch", "16", "--eval-size", "0", "--lr", "1e30", "--out", filepath.Join(dir, "run"))
	},
	"Eval cannot save its state (read-only or full disk, missing directory)": func(t *testing.T, bin, dir string) (int, string) {
		return runBin(t, bin, nil, "eval", "--checkpoint", tinyRun(t), "--attacks", "fgsm", "--state", filepath.Join(dir, "missing", "state.json"))
	},
	"A checkpoint whose metadata was edited (e.g. its epoch)": func(t *testing.T, bin, dir string) (int, string) {
		run := tinyRun(t)
		file := filepath.Join(run, checkpoint.File)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, bytes.Replace(b, []byte(`\"epoch\":1`), []byte(`\"epoch\":2`), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		return runBin(t, bin, nil, "eval", "--checkpoint", run, "--attacks", "fgsm")
	},
	"A file given as `--data` where a directory of IDX files belongs": func(t *testing.T, bin, dir string) (int, string) {
		file := filepath.Join(synthdata.FashionIDX(t, 40, 12), "train-images-idx3-ubyte")
		return runBin(t, bin, nil, "fit", "--data", file, "--out", filepath.Join(dir, "run"))
	},
	"An IDX file whose header claims 255 dimensions": func(t *testing.T, bin, dir string) (int, string) {
		data := synthdata.FashionIDX(t, 40, 12)
		bad := append([]byte{0, 0, 8, 255}, make([]byte, 4*255)...)
		if err := os.WriteFile(filepath.Join(data, "train-images-idx3-ubyte"), bad, 0o644); err != nil {
			t.Fatal(err)
		}
		return runBin(t, bin, nil, "data", "stats", "--dataset", "fashion-mnist", "--path", data)
	},
}

// TestReliabilityTable checks docs/reliability.md against the binary: every
// row has a case here and every case a row; each case exits with its row's
// code and prints the first `quoted` text of the row's second cell.
func TestReliabilityTable(t *testing.T) {
	ortest.Init(t)
	doc, err := os.ReadFile("../../docs/reliability.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| (.+?) \\| (.+) \\| (\\d+) \\|$")
	quoted := regexp.MustCompile("`([^`]+)`")
	bin := buildTaetctl(t)
	seen := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, see, want := m[1], m[2], m[3]
		seen[name] = true
		run, ok := failureCases[name]
		if !ok {
			t.Errorf("docs/reliability.md row %q has no case in TestReliabilityTable", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			q := quoted.FindStringSubmatch(see)
			if q == nil {
				t.Fatalf("the row's second cell quotes nothing to look for")
			}
			code, out := run(t, bin, t.TempDir())
			if strconv.Itoa(code) != want || !strings.Contains(out, q[1]) {
				t.Errorf("exit %d, want %s; output (want %q in it):\n%s", code, want, q[1], out)
			}
		})
	}
	for name := range failureCases {
		if !seen[name] {
			t.Errorf("case %q has no row in docs/reliability.md", name)
		}
	}
}
