package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taet-ml/taet/internal/ortest"
)

// readmeNeedsUserData marks README command lines this test cannot run:
// they read data sets, runs or models a user brings or makes first.
var readmeNeedsUserData = []string{"~/data", "runs/", "model.onnx", "…"}

// TestREADMECommands runs every `bin/taetctl …` line of README.md's code
// blocks that needs no data of the user's (Debian's Fashion-MNIST counts as
// installed), with the binary built from this tree, in a scratch directory:
// each must exit 0.
func TestREADMECommands(t *testing.T) {
	ortest.Init(t)
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	inCode := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "```"):
			inCode = !inCode
		case inCode && strings.HasPrefix(line, "bin/taetctl "):
			lines = append(lines, line)
		}
	}
	bin := buildTaetctl(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(dir, "bin", "taetctl")); err != nil {
		t.Fatal(err)
	}
	env := os.Environ()
	if lib, err := filepath.Abs("../../third_party/onnxruntime/libonnxruntime.so.1"); err == nil && os.Getenv("TAET_ORT_LIB") == "" {
		if _, err := os.Stat(lib); err == nil {
			env = append(env, "TAET_ORT_LIB="+lib)
		}
	}
	ran := 0
	for _, line := range lines {
		if containsAny(line, readmeNeedsUserData) {
			continue
		}
		cmd := exec.Command("bash", "-o", "pipefail", "-c", line)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("README line %q: %v\n%s", line, err, out)
		}
		ran++
	}
	if ran < 4 {
		t.Errorf("ran %d README command lines of %d, want at least 4 (version, ops, build-graph, data stats)", ran, len(lines))
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
