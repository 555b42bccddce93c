package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/runlock"
	"github.com/taet-ml/taet/internal/testenv"
	"github.com/urfave/cli/v2"
)

// needFashionMNIST skips t without Debian's Fashion-MNIST.
func needFashionMNIST(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(data.FashionMNISTDebianDir, "train-images-idx3-ubyte.gz")); err != nil {
		testenv.Missing(t, "needs Debian's Fashion-MNIST: apt-get install dataset-fashion-mnist (%v)", err)
	}
}

// tinyFitArgs are the flags of a fit of a few seconds on Fashion-MNIST.
func tinyFitArgs(out string, seed int) []string {
	return []string{"fit", "--stage", "ce:1", "--n-max", "200", "--width", "0.0625", "--batch", "32",
		"--eval-size", "0", "--threads", "1", "--seed", fmt.Sprint(seed), "--out", out}
}

// exitOf returns a finished command's exit code.
func exitOf(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// TestTwoFitsIntoOneRunDirectory starts two fits with different seeds
// into one --out at once: exactly one wins, the other exits 12 naming the
// winner's PID, and the checkpoint is the winner's, intact.
func TestTwoFitsIntoOneRunDirectory(t *testing.T) {
	needFashionMNIST(t)
	ortest.Init(t)
	bin := buildTaetctl(t)
	out := filepath.Join(t.TempDir(), "run")
	cmds := make([]*exec.Cmd, 2)
	stderr := make([]bytes.Buffer, 2)
	for i := range cmds {
		cmds[i] = exec.Command(bin, tinyFitArgs(out, 100+i)...)
		cmds[i].Stderr = &stderr[i]
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	codes := make([]int, 2)
	for i, c := range cmds {
		codes[i] = exitOf(t, c.Wait())
	}
	winner := -1
	switch {
	case codes[0] == 0 && codes[1] == exitData:
		winner = 0
	case codes[1] == 0 && codes[0] == exitData:
		winner = 1
	default:
		t.Fatalf("exit codes %v, want one 0 and one %d\nstderr 0: %s\nstderr 1: %s", codes, exitData, &stderr[0], &stderr[1])
	}
	loser := stderr[1-winner].String()
	if want := fmt.Sprintf("PID %d", cmds[winner].Process.Pid); !strings.Contains(loser, want) || !strings.Contains(loser, out) {
		t.Errorf("the refused fit said %q, want it to name %s and %s", loser, out, want)
	}
	st, _, err := checkpoint.Load(out)
	if err != nil {
		t.Fatalf("the winner's checkpoint: %v", err)
	}
	if want := uint64(100 + winner); st.Config.Seed != want || st.Epoch != 1 {
		t.Errorf("checkpoint has seed %d at epoch %d, want the winner's seed %d at epoch 1", st.Config.Seed, st.Epoch, want)
	}
}

// TestEvalStateSingleWriter: an eval whose --state another process holds
// exits 12 at once, naming that process.
func TestEvalStateSingleWriter(t *testing.T) {
	ortest.Init(t)
	run := tinyRun(t)
	state := filepath.Join(t.TempDir(), "state.json")
	lock, err := runlock.Acquire(state + ".lock") // a second open file: flock refuses it as it would another process
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	err = runTaetctl("eval", "--checkpoint", run, "--attacks", "fgsm", "--state", state)
	if got := exitCode(context.Background(), err); got != exitData || !strings.Contains(fmt.Sprint(err), fmt.Sprintf("PID %d", os.Getpid())) {
		t.Errorf("eval with a held state: exit %d (%v), want %d naming PID %d", got, err, exitData, os.Getpid())
	}
}

// TestEvalResultsSurviveAnUnsavableState: when the state cannot be
// written, eval still prints every result, then fails saying why.
func TestEvalResultsSurviveAnUnsavableState(t *testing.T) {
	ortest.Init(t)
	run := tinyRun(t)
	state := filepath.Join(t.TempDir(), "no-such-dir", "state.json") // unwritable, even for root
	var out bytes.Buffer
	app := newApp(&globalOptions{})
	app.Writer, app.ErrWriter = &out, io.Discard
	err := app.RunContext(context.Background(), []string{"taetctl", "--json", "eval", "--checkpoint", run, "--attacks", "fgsm", "--state", state})
	if got := exitCode(context.Background(), err); got == exitOK || !strings.Contains(fmt.Sprint(err), "not saved") {
		t.Errorf("exit %d (%v), want non-zero saying the state was not saved", got, err)
	}
	for _, want := range []string{`"attack":"clean"`, `"attack":"fgsm"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %s result printed:\n%s", want, out.String())
		}
	}
}

// TestUsageErrorsExit2: an unknown flag exits 2 in every command and
// subcommand, and so does every value that cannot work, before any work
// starts (no data is loaded: the data path does not exist).
func TestUsageErrorsExit2(t *testing.T) {
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := append(slices.Clone(path), c.Name)
			err := runTaetctl(append(p, "--bogus")...)
			if got := exitCode(context.Background(), err); got != exitUsage {
				t.Errorf("%v --bogus: exit %d (%v), want %d", p, got, err, exitUsage)
			}
			walk(p, c.Subcommands)
		}
	}
	walk(nil, newApp(&globalOptions{}).Commands)

	out := filepath.Join(t.TempDir(), "run")
	fit := []string{"fit", "--data", "/nonexistent", "--out", out}
	for _, args := range [][]string{
		{"--seed", "-1"}, {"--model", "foo"}, {"--width", "-1"}, {"--width", "0"}, {"--n-max", "-5"},
		{"--dataset", "foo"}, {"--ir", "nan"}, {"--width", "inf"}, {"--eps", "nan"}, {"--lr", "NaN"},
		{"--hel-alpha", "-Inf"}, {"--threads", "1000"}, {"--threads", "-1"}, {"--hel-variant", "some"},
	} {
		err := runTaetctl(append(slices.Clone(fit), args...)...)
		words := strings.NewReplacer("-", " ").Replace
		if got := exitCode(context.Background(), err); got != exitUsage || !strings.Contains(words(strings.ToLower(err.Error())), words(args[0][2:])) {
			t.Errorf("fit %v: exit %d (%v), want %d naming the flag", args, got, err, exitUsage)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused fit created its run directory: %v", err)
	}
	for _, args := range [][]string{
		{"eval", "--checkpoint", "x", "--test-ir", "nan"}, {"eval", "--checkpoint", "x", "--eps", "inf"},
		{"--threads", "1000", "ops"}, {"ops", "--threads", "-1"},
	} {
		if got := exitCode(context.Background(), runTaetctl(args...)); got != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, got, exitUsage)
		}
	}
}

// TestResumeRefusesContradictingFlags: --resume keeps the checkpoint's
// settings, so a flag saying otherwise is a usage error naming both values;
// flags that agree, and --threads, are fine.
func TestResumeRefusesContradictingFlags(t *testing.T) {
	ortest.Init(t)
	run := tinyRun(t) // resnet18, width 1/8, seed 0, finished
	for _, tc := range []struct {
		args       []string
		want       int
		given, has string
	}{
		{[]string{"--width", "0.5"}, exitUsage, "--width 0.5", "0.125"},
		{[]string{"--model", "resnet50"}, exitUsage, "--model resnet50", "resnet18"},
		{[]string{"--seed", "7"}, exitUsage, "--seed 7", "has 0"},
		{[]string{"--stage", "hel:3"}, exitUsage, "--stage [{hel 3}]", "[{ce 1}]"},
		{[]string{"--width", "0.125", "--model", "resnet18", "--threads", "1"}, exitOK, "", ""},
	} {
		err := runTaetctl(append([]string{"fit", "--resume", "--out", run}, tc.args...)...)
		got := exitCode(context.Background(), err)
		if got != tc.want || tc.want != exitOK && (!strings.Contains(err.Error(), tc.given) || !strings.Contains(err.Error(), tc.has)) {
			t.Errorf("fit --resume %v: exit %d (%v), want %d naming %q and %q", tc.args, got, err, tc.want, tc.given, tc.has)
		}
	}
}

// TestFlagGivenTwiceExit2 gives every flag of every command twice: each
// one is a usage error naming the flag, before the command does anything;
// slice flags (--stage, --set, --attacks, --milestones) may repeat.
func TestFlagGivenTwiceExit2(t *testing.T) {
	app := newApp(&globalOptions{})
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := append(slices.Clone(path), c.Name)
			for _, f := range c.Flags {
				name := f.Names()[0]
				once := []string{"--" + name}
				if df, ok := f.(cli.DocGenerationFlag); ok && df.TakesValue() {
					once = append(once, "1")
				}
				args := append(append(slices.Clone(p), once...), once...)
				err := checkRepeated(app.Commands, args)
				if sf, ok := f.(cli.DocGenerationSliceFlag); ok && sf.IsSliceFlag() {
					if err != nil {
						t.Errorf("%v: %v, want a slice flag to repeat", args, err)
					}
					continue
				}
				if got := exitCode(context.Background(), err); got != exitUsage || !strings.Contains(fmt.Sprint(err), "--"+name+" given twice") {
					t.Errorf("%v: exit %d (%v), want %d naming --%s", args, got, err, exitUsage, name)
				}
			}
			walk(p, c.Subcommands)
		}
	}
	walk(nil, app.Commands)
	for _, args := range [][]string{
		{"fit", "-o", "a", "--out=b"}, {"sweep", "init", "--method", "taet", "--out", "x", "--method=at"}, {"report", "SWEEP", "--out", "a", "-o", "b"},
	} {
		if err := checkRepeated(app.Commands, args); exitCode(context.Background(), err) != exitUsage {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	for _, args := range [][]string{
		{"fit", "--stage", "ce:1", "--stage", "hel:1", "--milestones", "1", "--milestones", "2"},
		{"sweep", "init", "--set", "lr=0.1", "--set", "hel.alpha=0.1,0.2"},
		{"eval", "--attacks", "fgsm", "--attacks", "pgd-20"},
		{"--json", "ops", "--json"},          // one per level: the command's overrides the app's
		{"fit", "--out", "a", "--", "--out"}, // nothing after --
		{"sweep", "run", "init", "-j", "2"},  // a sweep directory named like a command
		{"eval", "--eps", "--eps"},           // a value that looks like a flag
	} {
		if err := checkRepeated(app.Commands, args); err != nil {
			t.Errorf("%v: %v, want no error", args, err)
		}
	}
	if err := runTaetctl("fit", "--method", "taet", "--method", "at", "--data", "/nonexistent"); exitCode(context.Background(), err) != exitUsage {
		t.Errorf("fit --method twice through the app: %v, want a usage error", err)
	}
}
