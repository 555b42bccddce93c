package sweep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/taet-ml/taet/internal/atomicfile"
	"github.com/taet-ml/taet/onnx/ort"
)

// Files of the Slurm submission, in SlurmDir of the sweep directory.
const (
	SlurmDir = "slurm"
	// ScriptFile is the job-array batch script.
	ScriptFile = "array.sbatch"
	// JobIDFile holds the id of the last submitted job array, one line.
	JobIDFile = "job-id"
)

// SlurmOptions configure the job array. Zero values leave the cluster's
// defaults.
type SlurmOptions struct {
	// Binary is the taetctl every task executes: an absolute path that
	// the compute nodes see.
	Binary      string
	Partition   string
	Time        string // time limit per task, as sbatch reads it ("4:00:00")
	GPUsPerTask int
	CPUsPerTask int // also the task's --threads
	MaxParallel int // tasks at a time (the array's %K); 0: no limit
	// Kernels, if not "", is every task's --cpu-kernels (ort.ParseCPUKernels).
	Kernels string
	// SignalSeconds is how long before its time limit a task gets SIGTERM
	// to checkpoint; 0: 120.
	SignalSeconds int
}

// OptionError reports a value sbatch would not accept for its option, or
// one that cannot be written into the script safely.
type OptionError struct {
	Option string // sbatch's (and taetctl sweep slurm's) option name, without "--"
	Value  string
	Want   string
}

func (e *OptionError) Error() string { return fmt.Sprintf("%s %q: want %s", e.Option, e.Value, e.Want) }

var (
	// partitionName is one partition name as slurm.conf's PartitionName
	// values are written in practice (letters, digits, '_', '-', '.');
	// --partition takes a comma-separated list of them.
	partitionName = `[A-Za-z0-9_.-]+`
	partitionList = regexp.MustCompile(`^` + partitionName + `(,` + partitionName + `)*$`)
	// timeLimit is sbatch --time's formats: minutes, minutes:seconds,
	// hours:minutes:seconds, days-hours, days-hours:minutes and
	// days-hours:minutes:seconds (sbatch(1)); UNLIMITED and INFINITE
	// (any case) are checked apart.
	timeLimit = regexp.MustCompile(`^([0-9]+|[0-9]+:[0-9]+|[0-9]+:[0-9]+:[0-9]+|[0-9]+-[0-9]+|[0-9]+-[0-9]+:[0-9]+|[0-9]+-[0-9]+:[0-9]+:[0-9]+)$`)
)

// Validate checks o's values against what sbatch accepts for each option,
// so that nothing but that value reaches its #SBATCH line: an
// *OptionError otherwise.
func (o SlurmOptions) Validate() error {
	switch {
	case o.Partition != "" && !partitionList.MatchString(o.Partition):
		return &OptionError{"partition", o.Partition, "a partition name (letters, digits, _ - .), or a comma-separated list of them"}
	case o.Time != "" && !timeLimit.MatchString(o.Time) && !strings.EqualFold(o.Time, "UNLIMITED") && !strings.EqualFold(o.Time, "INFINITE"):
		return &OptionError{"time", o.Time, "minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes, days-hours:minutes:seconds, or UNLIMITED"}
	case o.GPUsPerTask < 0:
		return &OptionError{"gpus-per-task", strconv.Itoa(o.GPUsPerTask), "≥ 0"}
	case o.CPUsPerTask < 0:
		return &OptionError{"cpus-per-task", strconv.Itoa(o.CPUsPerTask), "≥ 0"}
	case o.MaxParallel < 0:
		return &OptionError{"max-parallel", strconv.Itoa(o.MaxParallel), "≥ 0"}
	case o.SignalSeconds < 0:
		return &OptionError{"signal", strconv.Itoa(o.SignalSeconds), "≥ 0 seconds"}
	}
	if _, err := ort.ParseCPUKernels(o.Kernels); err != nil {
		return &OptionError{"cpu-kernels", o.Kernels, "onednn, blocked or standard"}
	}
	return nil
}

// sbatchQuote quotes s for an #SBATCH line, which sbatch splits itself
// (not the shell): double quotes, with '"' and '\' escaped by '\'.
func sbatchQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// WriteSlurm writes SlurmDir/ScriptFile for the sweep in dir: one array
// task per run (task i = run i), requeueable, each executing
// `taetctl sweep task DIR --index $SLURM_ARRAY_TASK_ID`, with Slurm's
// output in SlurmDir/<job>_<task>.out. It returns the script's path.
func WriteSlurm(dir string, o SlurmOptions) (string, error) {
	m, err := Load(dir)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(o.Binary) {
		return "", fmt.Errorf("taetctl binary %q: want an absolute path the compute nodes see", o.Binary)
	}
	if err := o.Validate(); err != nil {
		return "", err
	}
	// Slurm expands %A etc. in --output and stops expanding at any '\'; no
	// line of the script may hold a newline.
	if strings.ContainsAny(abs, "%\\\n\r") {
		return "", fmt.Errorf("sweep directory %q: Slurm cannot take a path with %%, \\ or a line break for the tasks' output; move the sweep", abs)
	}
	if strings.ContainsAny(o.Binary, "\n\r") {
		return "", fmt.Errorf("taetctl binary %q: a path with a line break cannot go into the script", o.Binary)
	}
	if o.SignalSeconds == 0 {
		o.SignalSeconds = 120
	}
	array := fmt.Sprintf("0-%d", len(m.Runs)-1)
	if o.MaxParallel > 0 {
		array += fmt.Sprintf("%%%d", o.MaxParallel)
	}
	slurm := filepath.Join(abs, SlurmDir)
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/bash\n# taetctl sweep slurm: %d runs of the sweep in %s, one array task each.\n", len(m.Runs), abs)
	fmt.Fprintf(&b, "#SBATCH --job-name=%s\n", sbatchQuote("taet-"+filepath.Base(abs)))
	fmt.Fprintf(&b, "#SBATCH --array=%s\n", array)
	b.WriteString("#SBATCH --requeue\n")
	fmt.Fprintf(&b, "#SBATCH --output=%s\n", sbatchQuote(slurm+"/%A_%a.out"))
	// B: the batch shell, which exec made taetctl: SIGTERM checkpoints.
	fmt.Fprintf(&b, "#SBATCH --signal=B:TERM@%d\n", o.SignalSeconds)
	if o.Partition != "" {
		fmt.Fprintf(&b, "#SBATCH --partition=%s\n", o.Partition)
	}
	if o.Time != "" {
		fmt.Fprintf(&b, "#SBATCH --time=%s\n", o.Time)
	}
	if o.GPUsPerTask > 0 {
		fmt.Fprintf(&b, "#SBATCH --gpus-per-task=%d\n", o.GPUsPerTask)
	}
	threads := ""
	if o.CPUsPerTask > 0 {
		fmt.Fprintf(&b, "#SBATCH --cpus-per-task=%d\n", o.CPUsPerTask)
		threads = fmt.Sprintf(" --threads %d", o.CPUsPerTask)
	}
	if o.Kernels != "" {
		threads += " --cpu-kernels " + shellQuote(o.Kernels)
	}
	fmt.Fprintf(&b, "exec %s sweep task %s --index \"$SLURM_ARRAY_TASK_ID\"%s\n", shellQuote(o.Binary), shellQuote(abs), threads)
	if err := os.MkdirAll(slurm, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(slurm, ScriptFile)
	if err := atomicfile.Write(path, []byte(b.String())); err != nil {
		return "", err
	}
	return path, os.Chmod(path, 0o755)
}

// shellQuote quotes s for bash if it needs it.
func shellQuote(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Submit submits the sweep's batch script (WriteSlurm) with sbatch and
// records the job id in SlurmDir/JobIDFile.
func Submit(ctx context.Context, dir string) (jobID string, err error) {
	script := filepath.Join(dir, SlurmDir, ScriptFile)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "sbatch", "--parsable", script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("sbatch %s: %w: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	jobID, _, _ = strings.Cut(strings.TrimSpace(string(out)), ";") // "id;cluster" on federations
	if _, err := strconv.ParseUint(jobID, 10, 64); err != nil {
		return "", fmt.Errorf("sbatch %s printed %q, not a job id", script, out)
	}
	return jobID, atomicfile.Write(filepath.Join(dir, SlurmDir, JobIDFile), []byte(jobID+"\n"))
}

// JobID returns the recorded job id of the sweep in dir, or "" if none.
func JobID(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, SlurmDir, JobIDFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// ErrNoSqueue is returned by Squeue where squeue is not installed.
var ErrNoSqueue = errors.New("squeue not found")

// Squeue returns the Slurm state ("PENDING", "RUNNING", …) of each array
// task of job that squeue still lists, by task id. A job squeue no longer
// knows (finished) gives an empty map.
func Squeue(ctx context.Context, job string) (map[int]string, error) {
	if _, err := exec.LookPath("squeue"); err != nil {
		return nil, ErrNoSqueue
	}
	out, err := exec.CommandContext(ctx, "squeue", "-h", "-r", "-j", job, "-o", "%K %T").Output()
	states := map[int]string{}
	if err != nil { // "Invalid job id specified": the job has left the queue
		return states, nil
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		task, state, ok := strings.Cut(strings.TrimSpace(line), " ")
		if i, err := strconv.Atoi(task); ok && err == nil {
			states[i] = state
		}
	}
	return states, nil
}
