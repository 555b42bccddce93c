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
	"strings"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/runlock"
	"github.com/taet-ml/taet/internal/testenv"
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
