package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/internal/ortest"
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
		if m["message_type"] == "attack" {
			res[m["attack"].(string)] = m
		}
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
	// nothing: the same numbers, no attack time, every image resumed.
	again := evalLines(t, args...)
	for name, m := range first {
		if again[name]["balanced_robustness"] != m["balanced_robustness"] || again[name]["seconds"] != m["seconds"] {
			t.Errorf("%s: resumed %v, first %v", name, again[name], m)
		}
		if name != "clean" && again[name]["resumed_images"] != 40.0 {
			t.Errorf("%s: resumed_images %v, want all 40", name, again[name]["resumed_images"])
		}
	}
	// A partial state (as after an interruption) is continued, not
	// restarted: the first 32 images come from the state, and the result
	// is the uninterrupted one.
	var st map[string]any
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	p := st["attacks"].(map[string]any)["pgd-20"].(map[string]any)
	p["done"], p["pred"] = 32, p["pred"].([]any)[:32]
	if b, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, b, 0o644); err != nil {
		t.Fatal(err)
	}
	resumed := evalLines(t, args...)
	if got := resumed["pgd-20"]["resumed_images"]; got != 32.0 {
		t.Errorf("resumed_images %v, want the 32 of the saved state", got)
	}
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
	st, _, err := checkpoint.Load(run)
	if err != nil {
		t.Fatal(err)
	}
	return st.Config.DataPath
}

// TestEvalInterruptedThroughBinary sends SIGINT 5 s into `taetctl eval
// --attacks pgd-100`: it must exit 130 within 5 s with the finished batches
// in the state file, and a rerun must take them from the state (not attack
// them again) and finish with exit 0.
func TestEvalInterruptedThroughBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for ~15 s; skipped with -short")
	}
	ortest.Init(t)
	bin, run := buildTaetctl(t), tinyRunOf(t, 1600, 0) // ~100 training steps: most test images classified right, so attacked
	state := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--json", "--threads", "1", "eval", "--checkpoint", run, "--attacks", "pgd-100", "--batch", "2", "--state", state}

	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the first batch is saved (its status line is out),
	// however fast this machine attacks.
	batchDone, copied := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(copied)
		sc, once := bufio.NewScanner(pipe), sync.Once{}
		for sc.Scan() {
			stdout.Write(append(sc.Bytes(), '\n'))
			if strings.Contains(sc.Text(), `"message_type":"status"`) {
				once.Do(func() { close(batchDone) })
			}
		}
	}()
	select {
	case <-batchDone:
	case <-copied:
		t.Fatalf("eval ended before a batch was done:\n%s\n%s", stdout.String(), stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT: %v", err)
	}
	signalled := time.Now()
	<-copied
	err = cmd.Wait()
	if took := time.Since(signalled); took > 5*time.Second {
		t.Errorf("eval exited %v after SIGINT, want within 5 s", took)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("interrupted eval: %v, want exit %d\nstdout: %s\nstderr: %s", err, exitInterrupted, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), `"message_type":"status"`) {
		t.Errorf("no status lines before the interrupt:\n%s", stdout.String())
	}
	var st struct {
		Attacks map[string]struct{ Done int } `json:"attacks"`
	}
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("no state after SIGINT: %v", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	done := st.Attacks["pgd-100"].Done
	if done == 0 {
		t.Fatalf("state after SIGINT has no finished batch: %s", b)
	}

	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("resumed eval: %v", err)
	}
	var pgd struct {
		Resumed int `json:"resumed_images"`
		Support []int
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, `"attack":"pgd-100"`) && strings.Contains(line, `"message_type":"attack"`) {
			if err := json.Unmarshal([]byte(line), &pgd); err != nil {
				t.Fatal(err)
			}
		}
	}
	total := 0
	for _, n := range pgd.Support {
		total += n
	}
	if pgd.Resumed != done || total <= done {
		t.Errorf("rerun resumed %d images of %d, want the %d the interrupted run finished", pgd.Resumed, total, done)
	}
}
