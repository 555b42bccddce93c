package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/testenv"
	"github.com/taet-ml/taet/report"
	"github.com/taet-ml/taet/sweep"
)

// tinySweepFlags are sweep init's flags for 4 tiny fits (a 1/16-width
// ResNet-18 on a few hundred Fashion-MNIST images, one CE and one HEL
// epoch) and a small evaluation each.
var tinySweepFlags = []string{"--method", "taet,at", "--seed", "0,1", "--stage", "ce:1+hel:1", "--n-max", "40",
	"--width", "0.0625", "--batch", "32", "--pgd-steps", "2", "--eval-size", "20", "--attacks", "fgsm", "--limit", "20"}

// taetctlEnv is the environment taetctl (and its Slurm tasks) run in: the
// ONNX Runtime of this tree.
func taetctlEnv(t *testing.T) []string {
	t.Helper()
	env := os.Environ()
	if os.Getenv("TAET_ORT_LIB") == "" {
		lib, err := filepath.Abs("../../third_party/onnxruntime/libonnxruntime.so.1")
		if err == nil {
			env = append(env, "TAET_ORT_LIB="+lib)
		}
	}
	return env
}

// TestSweepOnSlurm submits a 4-task array sweep to a real Slurm (the
// one-node cluster of scripts/slurm-local.sh), requeues one task once its
// run has checkpointed, and waits, with a bound, until every run has
// finished: its checkpoint at the last epoch and its record written, the
// requeued run continued from its checkpoint rather than fitting afresh.
func TestSweepOnSlurm(t *testing.T) {
	if _, err := exec.LookPath("sbatch"); err != nil || os.Getenv("SLURM_CONF") == "" {
		testenv.Missing(t, "needs a Slurm cluster (sbatch and SLURM_CONF): run the tests under "+
			"scripts/slurm-local.sh run go test ./cmd/taetctl (as root, with Debian's slurm-wlm and munge), as make test does")
	}
	ortest.Init(t)
	if _, err := os.Stat(data.FashionMNISTDebianDir); err != nil {
		testenv.Missing(t, "needs Debian's Fashion-MNIST (make deb): %v", err)
	}
	bin := buildTaetctl(t)
	dir := filepath.Join(t.TempDir(), "sweep")
	env := taetctlEnv(t)
	taetctl := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("taetctl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
		}
		return out
	}
	taetctl(append([]string{"sweep", "init", "--out", dir}, tinySweepFlags...)...)
	taetctl("sweep", "slurm", dir, "--submit", "--max-parallel", "2", "--cpus-per-task", "1")
	script, err := os.ReadFile(filepath.Join(dir, sweep.SlurmDir, sweep.ScriptFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#SBATCH --array=0-3%2\n", "#SBATCH --requeue\n", "#SBATCH --signal=B:TERM@", "exec " + bin + " sweep task "} {
		if !bytes.Contains(script, []byte(want)) {
			t.Errorf("array.sbatch lacks %q:\n%s", want, script)
		}
	}
	job := sweep.JobID(dir)
	if job == "" {
		t.Fatal("no job id recorded")
	}
	t.Cleanup(func() { exec.Command("scancel", job).Run() })
	m, err := sweep.Load(dir)
	if err != nil {
		t.Fatal(err)
	}

	requeued := -1
	deadline := time.Now().Add(150 * time.Second)
	for {
		var finished int
		sc := bufio.NewScanner(bytes.NewReader(taetctl("sweep", "status", dir, "--json")))
		for sc.Scan() {
			var s struct {
				Index  int
				Stage  string
				Epoch  int
				Epochs int
				Error  string
				Slurm  string
			}
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				t.Fatal(err)
			}
			switch {
			case s.Stage == string(sweep.Finished):
				finished++
			case s.Index == requeued && s.Slurm == "PENDING":
				// Slurm holds a requeued task back (BeginTime) for a while: release it.
				exec.Command("scontrol", "update", "JobId="+job+"_"+strconv.Itoa(s.Index), "StartTime=now").Run()
			case s.Stage == string(sweep.Failed):
				t.Fatalf("run %d failed: %s", s.Index, s.Error)
			case requeued < 0 && s.Stage == string(sweep.Fitting) && s.Epoch == 1 && s.Slurm == "RUNNING":
				task := job + "_" + strconv.Itoa(s.Index)
				if out, err := exec.Command("scontrol", "requeue", task).CombinedOutput(); err != nil {
					t.Fatalf("scontrol requeue %s: %v\n%s", task, err, out)
				}
				requeued = s.Index
			}
		}
		if finished == len(m.Runs) {
			break
		}
		if time.Now().After(deadline) {
			out, _ := exec.Command("squeue", "-r", "-j", job).CombinedOutput()
			t.Fatalf("%d of %d runs finished after 150 s; squeue:\n%s", finished, len(m.Runs), out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, r := range m.Runs {
		st, _, err := checkpoint.Load(filepath.Join(dir, r.Dir))
		if err != nil || st.Epoch != r.Fit.Epochs() {
			t.Errorf("%s: checkpoint at epoch %d (%v), want %d", r.Name, st.Epoch, err, r.Fit.Epochs())
		}
		if _, err := evaluate.LoadRecord(sweep.RecordPath(dir, r, r.Evals[0])); err != nil {
			t.Errorf("%s: %v", r.Name, err)
		}
	}
	if requeued < 0 {
		t.Fatal("no run was seen mid-fit to requeue its task")
	}
	log, _ := os.ReadFile(filepath.Join(dir, m.Runs[requeued].Dir, sweep.LogFile))
	fresh := strings.Count(string(log), " fit ") - strings.Count(string(log), "resuming at epoch")
	if !strings.Contains(string(log), "interrupted") || fresh != 1 {
		t.Errorf("run %d's task was requeued mid-fit: want its log to show the interruption and one fresh start only, then a resume; log:\n%s", requeued, log)
	}

	// The cluster's sweep is reported: 2 methods × 2 seeds, nothing missing,
	// the page written.
	cmd := exec.Command(bin, "--json", "report", dir)
	cmd.Env = taetctlEnv(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("taetctl report: %v\n%s", err, out)
	}
	var sum struct {
		Configurations, Runs int
		Missing              []any
	}
	if err := json.Unmarshal(out, &sum); err != nil || sum.Configurations != 2 || sum.Runs != 4 || len(sum.Missing) != 0 {
		t.Errorf("report of the Slurm sweep: %s (%v); want 4 runs in 2 configurations, nothing missing", out, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "report", report.HTMLFile)); err != nil {
		t.Error(err)
	}
}

// runSweepInit runs `taetctl sweep init --out dir args…` in process and
// returns its exit code and output.
func runSweepInit(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	app := newApp(&globalOptions{})
	app.Writer, app.ErrWriter = &out, &out
	ctx := context.Background()
	err := app.RunContext(ctx, append([]string{"taetctl", "sweep", "init", "--out", dir}, args...))
	if err != nil {
		fmt.Fprintf(&out, "%v\n", err)
	}
	return exitCode(ctx, err), out.String()
}

// TestSweepInitFromFlags checks the grid the flags make (axes in the
// flags' order, the last fastest; one value a setting; list flags within
// a run) and that bad or conflicting flags are usage errors naming the key.
func TestSweepInitFromFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sweep")
	code, out := runSweepInit(t, dir, "--method", "taet,at-bsl", "--ir", "10,100", "--seed", "3", "--set", "hel.alpha=0.1,0.2",
		"--stage", "ce:2+hel:1", "--test-ir", "1,train", "--attacks", "fgsm,pgd-20", "--limit", "50")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	m, err := sweep.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range m.Runs {
		names = append(names, r.Name)
	}
	want := []string{
		"0-method_taet-ir_10-hel.alpha_0.1", "1-method_taet-ir_10-hel.alpha_0.2", "2-method_taet-ir_100-hel.alpha_0.1", "3-method_taet-ir_100-hel.alpha_0.2",
		"4-method_at-bsl-ir_10-hel.alpha_0.1", "5-method_at-bsl-ir_10-hel.alpha_0.2", "6-method_at-bsl-ir_100-hel.alpha_0.1", "7-method_at-bsl-ir_100-hel.alpha_0.2",
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("runs %v, want %v", names, want)
	}
	r := m.Runs[6]
	if r.Fit.Seed != 3 || r.Fit.IR != 100 || r.Fit.HEL.Alpha != 0.1 || r.Fit.Epochs() != 3 || len(r.Evals) != 2 ||
		r.Evals[1].TestIR != 100 || r.Evals[1].Limit != 50 || len(r.Evals[1].Attacks) != 2 {
		t.Errorf("run 6: fit %+v, evals %+v", r.Fit, r.Evals)
	}
	if code, out := runSweepInit(t, dir, "--method", "taet,at-bsl", "--ir", "10,100", "--seed", "3", "--set", "hel.alpha=0.1,0.2",
		"--stage", "ce:2+hel:1", "--test-ir", "1,train", "--attacks", "fgsm,pgd-20", "--limit", "50"); code != 0 {
		t.Errorf("the same init again: exit %d, want 0 (nothing to do): %s", code, out)
	}
	for _, c := range []struct {
		args []string
		key  string
	}{
		{[]string{"--seed", "0,1"}, "holds a different sweep"},
		{[]string{"--seed", "0,1", "--set", "seed=2"}, "seed"},
		{[]string{"--set", "hel.delta=1"}, "hel.delta"},
		{[]string{"--set", "ir=10,,100"}, "ir"},
		{[]string{"--set", "lr=0.1,0.1"}, "lr"},
		{[]string{"--grid", "g.toml", "--seed", "1"}, "--grid and --seed"},
		{[]string{"--eps", "8/255,big"}, "pgd.eps"},
	} {
		code, out := runSweepInit(t, dir, c.args...)
		if code != exitUsage || !strings.Contains(out, c.key) {
			t.Errorf("init %v: exit %d, %q; want exit %d naming %q", c.args, code, out, exitUsage, c.key)
		}
	}
}

// TestSweepRunCtrlC interrupts `taetctl sweep run` (SIGINT) once a run has
// checkpointed its first epoch: it exits 130 saying how to go on, and the
// same command then finishes every run, the interrupted one resumed.
func TestSweepRunCtrlC(t *testing.T) {
	ortest.Init(t)
	if _, err := os.Stat(data.FashionMNISTDebianDir); err != nil {
		testenv.Missing(t, "needs Debian's Fashion-MNIST (make deb): %v", err)
	}
	bin := buildTaetctl(t)
	dir := filepath.Join(t.TempDir(), "sweep")
	if code, out := runSweepInit(t, dir, append(tinySweepFlags[4:], "--seed", "0,1")...); code != 0 {
		t.Fatalf("init: exit %d: %s", code, out)
	}
	cmd := exec.Command(bin, "--json", "sweep", "run", dir, "-j", "2")
	cmd.Env = taetctlEnv(t)
	stderr, err := runInterrupted(t, cmd, func(line []byte) bool {
		var s struct {
			Stage string
			Epoch int
		}
		return json.Unmarshal(line, &s) == nil && s.Stage == string(sweep.Fitting) && s.Epoch == 1
	})
	if cmd.ProcessState.ExitCode() != exitInterrupted || !strings.Contains(stderr, "go on with: taetctl sweep run "+dir) {
		t.Fatalf("interrupted sweep run: %v, exit %d, want %d and how to go on; stderr:\n%s", err, cmd.ProcessState.ExitCode(), exitInterrupted, stderr)
	}
	cmd = exec.Command(bin, "sweep", "run", dir, "-j", "2")
	cmd.Env = taetctlEnv(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sweep run again: %v\n%s", err, out)
	}
	m, _ := sweep.Load(dir)
	resumed := 0
	for _, r := range m.Runs {
		if s := sweep.StateOf(dir, r); s.Stage != sweep.Finished {
			t.Errorf("%s: %v", r.Name, s)
		}
		log, _ := os.ReadFile(filepath.Join(dir, r.Dir, sweep.LogFile))
		if strings.Contains(string(log), "resuming at epoch") {
			resumed++
		}
	}
	if resumed == 0 {
		t.Error("no run resumed from its checkpoint after the interruption")
	}
}

// TestSweepInitRoBalREAT: a grid over the robal and reat methods and a
// RoBal setting expands into runs that carry each method's preset (the
// cosine head for robal), the RoBal flags of fit as sweep flags.
func TestSweepInitRoBalREAT(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sweep")
	code, out := runSweepInit(t, dir, "--method", "robal,reat", "--set", "robal.tau_p=0.1,1", "--robal-tau-m", "0.3", "--reat-tail", "0.5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	m, err := sweep.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Runs) != 4 {
		t.Fatalf("%d runs, want 4", len(m.Runs))
	}
	robal, reat := m.Runs[1].Fit, m.Runs[2].Fit
	if robal.Stages[0].Name != "robal" || robal.Head.Kind != "cosine" || robal.RoBal.TauP != 1 || robal.RoBal.TauM != 0.3 ||
		reat.Stages[0].Name != "reat" || reat.Head.Kind != "" || reat.REAT.Tail != 0.5 {
		t.Errorf("runs %s: %+v\n%s: %+v", m.Runs[1].Name, robal, m.Runs[2].Name, reat)
	}
}
