// Package torchtest runs a short PyTorch script for a test that compares
// taet with the authors' framework: the test's inputs go to the script as
// JSON on stdin, the script prints its results as JSON on stdout.
//
// PyTorch is Debian's python3-torch (make deb installs it). Without it the
// test skips on a developer's machine and fails in CI (package testenv).
package torchtest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/taet-ml/taet/internal/testenv"
)

// Python is Debian's python3, which python3-torch installs into.
const Python = "/usr/bin/python3"

// Run runs script with Python after checking that torch imports, passing
// in as JSON on stdin, and decodes the JSON the script prints into out.
// float32 values survive the round trip exactly: Go writes the shortest
// decimal that reads back as the same float32, Python's tolist() writes
// float32 tensors as the doubles they equal.
func Run(t testing.TB, script string, in, out any) {
	t.Helper()
	if err := exec.Command(Python, "-c", "import torch").Run(); err != nil {
		testenv.Missing(t, "needs PyTorch: apt-get install python3-torch (%v)", err)
	}
	stdin, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Python, "-c", script)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("PyTorch script: %v\n%s", err, stderr.Bytes())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("PyTorch script printed %q: %v", stdout.Bytes(), err)
	}
}
