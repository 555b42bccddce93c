package sweep

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/taet-ml/taet/internal/testenv"
	"github.com/taet-ml/taet/train"
)

// TestSlurmOptionsRefused: every value sbatch would not take for its
// option, and every one that would smuggle a line into the script, is an
// *OptionError naming the option; sbatch's own formats pass.
func TestSlurmOptionsRefused(t *testing.T) {
	for _, tc := range []struct {
		o      SlurmOptions
		option string // "" = accepted
	}{
		{SlurmOptions{Partition: "gpu\ntouch /tmp/x"}, "partition"},
		{SlurmOptions{Partition: "gpu;touch /tmp/x"}, "partition"},
		{SlurmOptions{Partition: "gpu a100"}, "partition"},
		{SlurmOptions{Partition: "$(id)"}, "partition"},
		{SlurmOptions{Partition: "gpu,"}, "partition"},
		{SlurmOptions{Time: "1:00\ntouch /tmp/x"}, "time"},
		{SlurmOptions{Time: "1:00:00 #"}, "time"},
		{SlurmOptions{Time: "1h"}, "time"},
		{SlurmOptions{Time: "-1:00"}, "time"},
		{SlurmOptions{GPUsPerTask: -1}, "gpus-per-task"},
		{SlurmOptions{CPUsPerTask: -2}, "cpus-per-task"},
		{SlurmOptions{MaxParallel: -3}, "max-parallel"},
		{SlurmOptions{Partition: "gpu_a100-80g.x,cpu"}, ""},
		{SlurmOptions{Time: "30"}, ""},
		{SlurmOptions{Time: "30:15"}, ""},
		{SlurmOptions{Time: "4:00:00"}, ""},
		{SlurmOptions{Time: "2-12"}, ""},
		{SlurmOptions{Time: "2-12:30"}, ""},
		{SlurmOptions{Time: "2-12:30:05"}, ""},
		{SlurmOptions{Time: "unlimited"}, ""},
		{SlurmOptions{Time: "INFINITE"}, ""},
	} {
		err := tc.o.Validate()
		var oe *OptionError
		switch {
		case tc.option == "" && err != nil:
			t.Errorf("%+v: %v, want accepted", tc.o, err)
		case tc.option != "" && (!errors.As(err, &oe) || oe.Option != tc.option):
			t.Errorf("%+v: %v, want an *OptionError for %s", tc.o, err, tc.option)
		}
	}
}

// slurmSweep initialises a two-run sweep in a directory whose name has a
// space and quotes, and writes its script with a fake taetctl (a shell
// script, in a directory with a space, that records its arguments in
// args.txt beside it); it returns the sweep directory, the script and the
// fake binary.
func slurmSweep(t *testing.T, o SlurmOptions) (dir, script, bin string) {
	t.Helper()
	root := t.TempDir()
	dir = filepath.Join(root, `my "sweep" it's`)
	m, err := Expand(Grid{Settings: []train.Setting{{Key: "stages", Value: "ce:1"}}, Axes: []Axis{{Key: "seed", Values: []string{"0", "1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, m); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(root, "bin dir", "taet ctl")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/bash\nprintf '%s\\n' \"$@\" > \"$(dirname \"$0\")/args.txt\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	o.Binary = bin
	if script, err = WriteSlurm(dir, o); err != nil {
		t.Fatal(err)
	}
	return dir, script, bin
}

// TestSlurmScriptQuotesPaths parses the #SBATCH block as sbatch splits it
// (each line one option, its value bare or in double quotes), then runs
// the script with bash as a task would: the fake binary must receive the
// sweep directory as one argument, spaces and quotes intact.
func TestSlurmScriptQuotesPaths(t *testing.T) {
	dir, script, bin := slurmSweep(t, SlurmOptions{Partition: "debug", Time: "0-00:10", CPUsPerTask: 1, MaxParallel: 1, Kernels: "blocked"})
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^#SBATCH --[a-z-]+(=("([^"\\]|\\.)*"|[^\s"'#\\]+))?$`)
	var opts []string
	for _, l := range strings.Split(string(b), "\n")[1:] {
		if !strings.HasPrefix(l, "#") {
			break // sbatch reads #SBATCH lines up to the first command
		}
		if strings.HasPrefix(l, "#SBATCH") {
			if !line.MatchString(l) {
				t.Errorf("#SBATCH line %q: not one option with a bare or double-quoted value", l)
			}
			opts = append(opts, l)
		}
	}
	want := `#SBATCH --output="` + strings.ReplaceAll(filepath.Join(dir, SlurmDir), `"`, `\"`) + `/%A_%a.out"`
	if !strings.Contains(string(b), want+"\n") || len(opts) != 8 {
		t.Errorf("script:\n%s\nwant 8 #SBATCH lines, among them %s", b, want)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash %s: %v\n%s", script, err, out)
	}
	args, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "args.txt"))
	if got, want := string(args), strings.Join([]string{"sweep", "task", dir, "--index", "1", "--threads", "1", "--cpu-kernels", "blocked"}, "\n")+"\n"; err != nil || got != want {
		t.Errorf("the task ran taetctl with %q (%v), want %q", got, err, want)
	}
}

// TestSlurmScriptOnSlurm submits the script of a sweep whose path has a
// space and quotes to a real Slurm, as an array whose fake taetctl only
// records its arguments: the tasks' output lands in SWEEP/slurm/, which
// an unquoted --output would have split at the space.
func TestSlurmScriptOnSlurm(t *testing.T) {
	if _, err := exec.LookPath("sbatch"); err != nil || os.Getenv("SLURM_CONF") == "" {
		testenv.Missing(t, "needs a Slurm cluster (sbatch and SLURM_CONF): run the tests under scripts/slurm-local.sh run")
	}
	dir, script, _ := slurmSweep(t, SlurmOptions{Time: "5"})
	out, err := exec.Command("sbatch", "--wait", script).CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch --wait %s: %v\n%s", script, err, out)
	}
	outs, _ := filepath.Glob(filepath.Join(dir, SlurmDir, "*.out"))
	if len(outs) != 2 {
		entries, _ := os.ReadDir(filepath.Join(dir, SlurmDir))
		t.Errorf("%d task outputs in %s (%v), want 2", len(outs), filepath.Join(dir, SlurmDir), entries)
	}
}
