package scripts_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taet-ml/taet/internal/ortest"
)

// gpuReport is the part of gpu-check.sh's JSON the tests read.
type gpuReport struct {
	DryRun   bool `json:"dry_run"`
	OK       bool `json:"ok"`
	Sections []struct {
		Section string             `json:"section"`
		OK      bool               `json:"ok"`
		Error   string             `json:"error"`
		Metrics map[string]float64 `json:"metrics"`
		Report  json.RawMessage    `json:"report"`
	} `json:"sections"`
}

// gpuCheck runs gpu-check.sh --dry-run with args and returns its exit code
// and parsed report.
func gpuCheck(t *testing.T, args ...string) (int, gpuReport, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command("bash", append([]string{"gpu-check.sh", "--dry-run", "--out", out}, args...)...)
	stderr, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no report (exit %d): %v\n%s", code, err, stderr)
	}
	var r gpuReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, b)
	}
	return code, r, string(stderr)
}

// TestGPUCheckDryRun builds taetctl and runs the whole check on the CPU:
// pieces joined, every section run and passed, one JSON report.
func TestGPUCheckDryRun(t *testing.T) {
	ortest.Init(t)
	bin := filepath.Join(t.TempDir(), "taetctl")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/taetctl").CombinedOutput(); err != nil {
		t.Fatalf("build taetctl: %v\n%s", err, out)
	}
	root := t.TempDir()
	pieces := filepath.Join(root, "pieces")
	fakeInstall(t, filepath.Join(root, "ort"))
	if code, out := installORT(t, "--cuda", "--dest", filepath.Join(root, "ort"), "--pieces", pieces, "--piece-size", "1000"); code != 0 {
		t.Fatalf("split: %s", out)
	}
	code, r, log := gpuCheck(t, "--taetctl", bin, "--pieces", pieces)
	if code != 0 || !r.OK || !r.DryRun {
		t.Errorf("exit %d, ok %v, dry run %v; want 0, true, true\n%s", code, r.OK, r.DryRun, log)
	}
	var names []string
	for _, s := range r.Sections {
		names = append(names, s.Section)
		if !s.OK {
			t.Errorf("%s failed: %s", s.Section, s.Error)
		}
	}
	if got, want := strings.Join(names, ","), "join,discovery,version,train-step,pgd,throughput,fit-resume"; got != want {
		t.Errorf("sections %s, want %s", got, want)
	}
	for _, s := range r.Sections {
		if s.Section == "version" && !strings.Contains(string(s.Report), "cuda_libraries") {
			t.Errorf("version report lacks the CUDA libraries: %s", s.Report)
		}
		if s.Section == "throughput" && !(s.Metrics["pgd20_img_per_s"] > 0) {
			t.Errorf("throughput: %v", s.Metrics)
		}
	}
}

// TestGPUCheckReportsFailuresAndGoesOn: a corrupt piece and a crashing
// section are reported as failed sections; every other section still runs.
func TestGPUCheckReportsFailuresAndGoesOn(t *testing.T) {
	root := t.TempDir()
	fake := filepath.Join(root, "taetctl")
	script := `#!/bin/bash
case "$*" in
  *version*) echo '{"message_type":"version"}' ;;
  *"--section pgd"*) echo "Segmentation fault in the CUDA provider" >&2; kill -SEGV $$ ;;
  *--section*) a="$*"; s="${a##*--section }"; echo "{\"section\":\"${s%% *}\",\"ok\":true}" ;;
esac
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	pieces := filepath.Join(root, "pieces")
	fakeInstall(t, filepath.Join(root, "ort"))
	if code, out := installORT(t, "--cuda", "--dest", filepath.Join(root, "ort"), "--pieces", pieces, "--piece-size", "1000"); code != 0 {
		t.Fatalf("split: %s", out)
	}
	part := filepath.Join(pieces, "libonnxruntime_providers_cuda.so.part-000")
	if err := os.WriteFile(part, []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, r, log := gpuCheck(t, "--taetctl", fake, "--pieces", pieces)
	if code == 0 || r.OK {
		t.Errorf("exit %d, ok %v with a failed section; want a failure", code, r.OK)
	}
	got := map[string]bool{}
	for _, s := range r.Sections {
		got[s.Section] = s.OK
		switch s.Section {
		case "join":
			if s.OK || !strings.Contains(s.Error, "part-000 is corrupt") {
				t.Errorf("join: ok %v, error %q; want the corrupt piece named", s.OK, s.Error)
			}
		case "pgd":
			if s.OK || !strings.Contains(s.Error, "Segmentation fault") {
				t.Errorf("pgd: ok %v, error %q; want the crash reported", s.OK, s.Error)
			}
		}
	}
	for _, s := range []string{"version", "train-step", "throughput", "fit-resume"} {
		if !got[s] {
			t.Errorf("section %s missing or failed after the failures: %v\n%s", s, got, log)
		}
	}
}
