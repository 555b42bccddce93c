package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/train"
)

// evalLines runs `taetctl --json eval args…` and returns its JSON lines by attack.
func evalLines(t *testing.T, args ...string) map[string]map[string]any {
	t.Helper()
	var out bytes.Buffer
	app := newApp(&globalOptions{})
	app.Writer, app.ErrWriter = &out, &out
	if err := app.RunContext(context.Background(), append([]string{"taetctl", "--json", "eval"}, args...)); err != nil {
		t.Fatalf("eval %v: %v\n%s", args, err, out.String())
	}
	res := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		res[m["attack"].(string)] = m
	}
	return res
}

func TestEvalReportsAndResumes(t *testing.T) {
	ortest.Init(t)
	run := tinyRun(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	args := []string{"--checkpoint", run, "--attacks", "fgsm,pgd-20", "--batch", "16", "--limit", "40",
		"--state", state, "--csv", filepath.Join(dir, "recall.csv"), "--plot", filepath.Join(dir, "plots")}
	first := evalLines(t, args...)
	for _, name := range []string{"clean", "fgsm", "pgd-20"} {
		if first[name] == nil {
			t.Fatalf("no line for %s in %v", name, first)
		}
	}
	clean, pgd := first["clean"]["balanced_robustness"].(float64), first["pgd-20"]["balanced_robustness"].(float64)
	if pgd > clean {
		t.Errorf("PGD-20 balanced robustness %.4f above clean balanced accuracy %.4f", pgd, clean)
	}
	if linf := first["pgd-20"]["max_linf"].(float64); linf > 8.0/255+1e-6 {
		t.Errorf("max L∞ %.5f exceeds 8/255", linf)
	}
	for _, f := range []string{"recall.csv", "plots/fgsm.png", "plots/pgd-20.png"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	// A second run finds every attack finished in the state and recomputes
	// nothing: the same numbers, no attack time.
	again := evalLines(t, args...)
	for name, m := range first {
		if again[name]["balanced_robustness"] != m["balanced_robustness"] || again[name]["seconds"] != m["seconds"] {
			t.Errorf("%s: resumed %v, first %v", name, again[name], m)
		}
	}
	// A partial state (as after an interruption) is continued, not restarted.
	var st evalState
	b, _ := os.ReadFile(state)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	p := st.Attacks["pgd-20"]
	p.Done, p.Pred = 32, p.Pred[:32]
	b, _ = json.Marshal(st)
	os.WriteFile(state, b, 0o644)
	resumed := evalLines(t, args...)
	if resumed["pgd-20"]["balanced_robustness"] != first["pgd-20"]["balanced_robustness"] {
		t.Errorf("resumed pgd-20 %v, uninterrupted %v", resumed["pgd-20"], first["pgd-20"])
	}
}

func TestEvalBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"eval"}, exitUsage}, // --checkpoint is required
		{[]string{"eval", "--checkpoint", "x", "--attacks", "nope"}, exitUsage},
		{[]string{"eval", "--checkpoint", "x", "--suite", "nope"}, exitUsage},
		{[]string{"eval", "--checkpoint", "x", "--eps", "2"}, exitUsage},
		{[]string{"eval", "--checkpoint", "/nonexistent/run"}, exitData},
	} {
		err := runTaetctl(tc.args...)
		if got := exitCode(context.Background(), err); got != tc.want {
			t.Errorf("%v: exit %d (%v), want %d", tc.args, got, err, tc.want)
		}
	}
}

// TestExportedModelIsAsRobust attacks a checkpoint and its ONNX export with
// the same gradient-free attack and seed: the balanced robustness must agree.
// The export keeps BatchNorm unfolded, so both compute the same logits bit
// for bit and Square takes the same decisions (folding changes logits by
// ~1e-7, which could flip a near-tie between two candidate perturbations).
func TestExportedModelIsAsRobust(t *testing.T) {
	ortest.Init(t)
	run := tinyRun(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "model.onnx")
	if err := runTaetctl("export", "--checkpoint", run, "--out", model, "--no-fold-bn"); err != nil {
		t.Fatal(err)
	}
	common := []string{"--attacks", "square", "--batch", "16", "--limit", "32", "--eps", "16/255"}
	fromCkpt := evalLines(t, append([]string{"--checkpoint", run, "--state", filepath.Join(dir, "a.json")}, common...)...)
	fromONNX := evalLines(t, append([]string{"--checkpoint", model, "--data", tinyDataPath(t, run), "--state", filepath.Join(dir, "b.json")}, common...)...)
	for _, name := range []string{"clean", "square"} {
		a, b := fromCkpt[name]["balanced_robustness"], fromONNX[name]["balanced_robustness"]
		if a != b {
			t.Errorf("%s: checkpoint %v, exported model %v", name, a, b)
		}
	}
	if err := runTaetctl("eval", "--checkpoint", model, "--attacks", "pgd-20", "--data", tinyDataPath(t, run)); exitCode(context.Background(), err) != exitUsage {
		t.Errorf("a gradient attack on an ONNX file: %v, want a usage error", err)
	}
}

// tinyDataPath returns the data set path a run was trained on (an export's
// metadata names the data set, not where its files are).
func tinyDataPath(t *testing.T, run string) string {
	st, _, err := train.LoadCheckpoint(run)
	if err != nil {
		t.Fatal(err)
	}
	return st.Config.DataPath
}
