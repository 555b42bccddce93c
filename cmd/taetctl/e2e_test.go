package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"github.com/taet-ml/taet/checkpoint"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/testenv"
)

// TestFitEndToEnd runs the quickstart's path, shortened, through the real
// binary on Debian's Fashion-MNIST: a two-stage fit that is interrupted by
// SIGINT in the HEL stage (exit 130, a mid-epoch checkpoint), then resumed
// to the end, which prints the balanced metrics; the resumed run's tensors
// are those of the same fit run uninterrupted in another process (the
// default CPU kernels, oneDNN's where it loads: their plans must repeat
// across processes too).
func TestFitEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for ~20 s; skipped with -short")
	}
	if _, err := os.Stat(filepath.Join(data.FashionMNISTDebianDir, "train-images-idx3-ubyte.gz")); err != nil {
		testenv.Missing(t, "needs Debian's Fashion-MNIST: apt-get install dataset-fashion-mnist (%v)", err)
	}
	ortest.Init(t)
	bin := buildTaetctl(t)
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"--json", "--threads", "2", "fit", "--method", "taet", "--stage", "ce:1", "--stage", "hel:1",
		"--ir", "10", "--n-max", "600", "--width", "0.0625", "--batch", "32", "--eval-size", "96", "--pgd-steps", "3", "--out", out}

	cmd := exec.Command(bin, args...)
	stderr, err := runInterrupted(t, cmd, func(line []byte) bool {
		var msg struct {
			Type  string `json:"message_type"`
			Stage string `json:"stage"`
		}
		if err := json.Unmarshal(line, &msg); err != nil {
			t.Fatalf("stdout line %q is not JSON: %v", line, err)
		}
		return msg.Type == "status" && msg.Stage == "hel"
	})
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("interrupted fit: %v (want exit %d)\nstderr: %s", err, exitInterrupted, stderr)
	}
	st, _, err := checkpoint.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Epoch != 1 || st.Step == 0 {
		t.Errorf("checkpoint after SIGINT at epoch %d step %d, want inside epoch 1 (hel)", st.Epoch, st.Step)
	}

	resumed, err := exec.Command(bin, append(args[:len(args)-2], "--out", out, "--resume")...).Output()
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	last := resumed[bytes.LastIndexByte(resumed[:len(resumed)-1], '\n')+1:]
	var sum struct {
		Type       string  `json:"message_type"`
		CleanBAcc  float64 `json:"clean_bacc"`
		RobustBAcc float64 `json:"robust_bacc"`
		Epochs     int     `json:"epochs"`
	}
	if err := json.Unmarshal(last, &sum); err != nil || sum.Type != "summary" {
		t.Fatalf("last line %q: want a summary (%v)", last, err)
	}
	if sum.Epochs != 2 || !(sum.CleanBAcc > 0.1) || !(sum.RobustBAcc >= 0 && sum.RobustBAcc <= sum.CleanBAcc) {
		t.Errorf("summary %+v: want 2 epochs, a clean balanced accuracy above chance and a robust one in [0, clean]", sum)
	}
	metrics, err := os.ReadFile(filepath.Join(out, checkpoint.MetricsFile))
	if err != nil || strings.Count(string(metrics), "\n") != 2 {
		t.Errorf("%s: %v, %d lines, want 2", checkpoint.MetricsFile, err, strings.Count(string(metrics), "\n"))
	}
	whole := filepath.Join(t.TempDir(), "whole")
	if b, err := exec.Command(bin, append(args[:len(args)-2], "--out", whole)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted fit: %v\n%s", err, b)
	}
	_, resumedTensors, err := checkpoint.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	_, wholeTensors, err := checkpoint.Load(whole)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(resumedTensors, wholeTensors) {
		t.Error("the interrupted and resumed fit's tensors differ from the uninterrupted fit's")
	}
}

// buildTaetctl builds the taetctl binary into a temporary directory.
func buildTaetctl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "taetctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runInterrupted starts cmd, sends it SIGINT at the first line of its
// standard output for which at says so, reads the rest, and returns cmd's
// standard error and what cmd.Wait returned.
func runInterrupted(t *testing.T, cmd *exec.Cmd, at func(line []byte) bool) (stderr string, err error) {
	t.Helper()
	return runSignalled(t, cmd, syscall.SIGINT, at)
}

// runSignalled is runInterrupted with the signal sig.
func runSignalled(t *testing.T, cmd *exec.Cmd, sig os.Signal, at func(line []byte) bool) (stderr string, err error) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	interrupted := false
	for sc := bufio.NewScanner(stdout); sc.Scan(); {
		if !interrupted && at(sc.Bytes()) {
			cmd.Process.Signal(sig)
			interrupted = true
		}
	}
	err = cmd.Wait()
	return errOut.String(), err
}
