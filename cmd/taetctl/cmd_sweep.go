package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"
	"github.com/taet-ml/taet/internal/boundedfile"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/sweep"
	"github.com/taet-ml/taet/train"
	"github.com/urfave/cli/v2"
)

func newSweepCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "sweep",
		Usage: "grids of fits and evaluations: run them here or as a Slurm job array",
		Description: `A sweep is a directory: sweep.json (every run's settings) and runs/<name>/, each
a fit's directory (checkpoint, metrics.jsonl), its run.log and eval/<label>.json records.

  taetctl sweep init --out SWEEP --method taet,at --seed 0,1 …   expand a grid
  taetctl sweep run SWEEP -j 2                                  run it here
  taetctl sweep slurm SWEEP --submit --partition P --time 8:00:00 run it on Slurm
  taetctl sweep status SWEEP                                    each run's stage

` + exitStatusHelp,
		Subcommands: []*cli.Command{
			newSweepInitCommand(g), flagsAfterArgs(newSweepRunCommand(g)), flagsAfterArgs(newSweepTaskCommand(g)),
			flagsAfterArgs(newSweepSlurmCommand(g)), flagsAfterArgs(newSweepStatusCommand(g)),
		},
	}
}

// sweepEvalFlags are sweep init's evaluation flags and their keys
// (sweep.EvalKeys).
var sweepEvalFlags = []struct{ flag, key, usage string }{
	{"suite", "eval.suite", "attack suite of the evaluations (default taet)"},
	{"attacks", "eval.attacks", "attacks instead of the suite, comma-separated"},
	{"eval-eps", "eval.eps", "L∞ radius of the evaluations (default: the run's training PGD eps)"},
	{"test-ir", "eval.test_ir", "test sets, comma-separated, one evaluation each: 1 (as is, \"balanced\"), train (the run's IR, \"long-tailed\") or a ratio (default 1)"},
	{"limit", "eval.limit", "test images attacked (0 = all)"},
	{"tail", "eval.tail", "classes in the tail view (default: a third)"},
	{"eval-batch", "eval.batch", "evaluation batch size (default 128)"},
	{"eval-seed", "eval.seed", "seed of the evaluations (default: the run's seed)"},
}

// listFlags are the flags whose commas separate a list within one run,
// not an axis's values.
var listFlags = map[string]bool{"attacks": true, "test-ir": true}

func newSweepInitCommand(g *globalOptions) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "sweep directory (required)"},
		&cli.StringFlag{Name: "grid", Usage: "grid file, TOML (.toml) or YAML (.yaml): [settings] and [[axes]], an axis \"variant\" of named settings (instead of the flags below)"},
		&cli.StringSliceFlag{Name: "set", Usage: "KEY=V1,V2,… a setting (one value) or an axis (several), by key: " + strings.Join(append(train.SettingKeys(), sweep.EvalKeys...), ", ")},
		&cli.IntFlag{Name: "max-runs", Value: sweep.DefaultMaxRuns, Usage: "refuse a grid of more runs than this (checked before any run is made)"},
	}
	for _, f := range newFitCommand(g).Flags {
		name := f.Names()[0]
		if settingOf(name) == "" {
			continue // not a setting: --out, --resume, the fetch flags
		}
		usage := f.(cli.DocGenerationFlag).GetUsage()
		switch name {
		case "stage":
			usage = "stages joined with +, e.g. ce:40+hel:60 (default: the method's)"
		case "milestones":
			usage = "epochs joined with + at which the LR is multiplied by --lr-gamma (default 75+90)"
		}
		if _, ok := f.(*cli.BoolFlag); ok {
			flags = append(flags, &cli.BoolFlag{Name: name, Usage: usage})
			continue
		}
		flags = append(flags, &cli.StringFlag{Name: name, Usage: usage + "; several, comma-separated, make an axis"})
	}
	for _, e := range sweepEvalFlags {
		flags = append(flags, &cli.StringFlag{Name: e.flag, Usage: e.usage})
	}
	flags = append(flags, fetchFlags()...)
	return &cli.Command{
		Name:      "init",
		Usage:     "expand a grid into the runs of a sweep directory (sweep.json)",
		ArgsUsage: " ",
		Description: `Every fit flag of taetctl fit takes a comma-separated list: one value is a setting
of every run, several are an axis. Runs are the axes' product in the order of the flags
(the last varying fastest), named <index>-<key>_<value>-…; --set KEY=V1,V2 sets or
sweeps any key, including hel.alpha and the eval.* keys. An existing sweep is left
alone if its settings are the same, refused if not.

` + exitStatusHelp,
		Flags: flags,
		Action: func(c *cli.Context) error {
			out := c.String("out")
			if out == "" {
				return usagef("--out: give the sweep directory")
			}
			if c.Int("max-runs") < 1 {
				return usagef("--max-runs %d: want at least 1", c.Int("max-runs"))
			}
			grid, err := sweepGrid(c)
			if errors.Is(err, boundedfile.ErrTooLarge) {
				return dataError{fmt.Errorf("--grid: %w", err)}
			} else if err != nil {
				return usageError{err}
			}
			grid.MaxRuns = c.Int("max-runs")
			m, err := sweep.Expand(grid)
			if errors.Is(err, sweep.ErrTooManyRuns) {
				return usagef("%v: raise --max-runs if you mean it", err)
			} else if err != nil {
				return usageError{err}
			}
			for i, r := range m.Runs { // as fit does: the cached copy of a data set given no path
				if r.Fit.DataPath == "" {
					if m.Runs[i].Fit.DataPath, err = newDataFetch(c, *g).path(r.Fit.Dataset); err != nil {
						return err
					}
				}
			}
			created, err := sweep.Init(out, m)
			if errors.Is(err, sweep.ErrExists) || errors.Is(err, sweep.ErrHoldsFit) {
				return usageError{err}
			} else if err != nil {
				return err
			}
			verb := "wrote"
			if !created {
				verb = "unchanged:"
			}
			return printSweepSummary(newPrinter(*g, c.App.Writer, c.App.ErrWriter), verb, filepath.Join(out, sweep.ManifestFile), m)
		},
	}
}

// summaryNames is how many run names, and values of each axis, sweep
// init prints (sweep status lists every run).
const summaryNames = 5

// printSweepSummary says what sweep init wrote: the manifest, the number
// of runs, the axes and the first summaryNames names.
func printSweepSummary(p printer, verb, manifest string, m *sweep.Manifest) error {
	names := make([]string, min(summaryNames, len(m.Runs)))
	for i := range names {
		names[i] = m.Runs[i].Name
	}
	s := struct {
		MessageType string       `json:"message_type"` // "sweep"
		Manifest    string       `json:"manifest"`
		Created     bool         `json:"created"`
		Runs        int          `json:"runs"`
		Axes        []sweep.Axis `json:"axes"`
		First       []string     `json:"first_runs"`
	}{"sweep", manifest, verb == "wrote", len(m.Runs), m.Axes, names}
	return p.result(s, func(w io.Writer) error {
		fmt.Fprintf(w, "%s %s: %d runs\n", verb, manifest, len(m.Runs))
		for _, a := range m.Axes {
			values := strings.Join(a.Values[:min(summaryNames, len(a.Values))], ", ")
			if len(a.Values) > summaryNames {
				values += fmt.Sprintf(", … (%d values)", len(a.Values))
			}
			fmt.Fprintf(w, "  axis %s: %s\n", a.Key, values)
		}
		for _, n := range names {
			fmt.Fprintf(w, "  %s\n", n)
		}
		if more := len(m.Runs) - len(names); more > 0 {
			fmt.Fprintf(w, "  … and %d more (taetctl sweep status %s)\n", more, filepath.Dir(manifest))
		}
		return nil
	})
}

// settingOf returns the setting key a fit flag gives, or "".
func settingOf(flag string) string {
	for _, fk := range fitFlagKeys {
		if fk.flag == flag {
			return fk.key
		}
	}
	return ""
}

// sweepGrid reads the grid of sweep init: --grid, or the flags.
func sweepGrid(c *cli.Context) (sweep.Grid, error) {
	type flagKey struct{ flag, key string }
	var given []flagKey
	for _, fk := range fitFlagKeys {
		if c.IsSet(fk.flag) {
			given = append(given, flagKey{fk.flag, fk.key})
		}
	}
	for _, e := range sweepEvalFlags {
		if c.IsSet(e.flag) {
			given = append(given, flagKey{e.flag, e.key})
		}
	}
	if c.IsSet("grid") {
		if len(given) > 0 || c.IsSet("set") {
			other := "set"
			if len(given) > 0 {
				other = given[0].flag
			}
			return sweep.Grid{}, fmt.Errorf("--grid and --%s: give the grid in the file or as flags, not both", other)
		}
		return sweep.LoadGrid(c.String("grid"))
	}
	byFlag := map[string]string{}
	var g sweep.Grid
	add := func(key, source, value string, list bool) {
		values := strings.Split(value, ",")
		if list {
			values = []string{strings.Join(values, "+")}
		}
		if len(values) == 1 {
			g.Settings = append(g.Settings, train.Setting{Key: key, Value: values[0]})
		} else {
			g.Axes = append(g.Axes, sweep.Axis{Key: key, Values: values})
		}
		byFlag[key] = source
	}
	for _, fk := range given {
		v := c.String(fk.flag)
		if fk.flag == "no-augment" {
			v = strconv.FormatBool(!c.Bool(fk.flag))
		}
		add(fk.key, "--"+fk.flag, v, listFlags[fk.flag])
	}
	var sets []string
	for _, s := range c.StringSlice("set") { // urfave/cli splits "k=a,b" into "k=a" and "b": join them again
		if n := len(sets); n > 0 && !strings.Contains(s, "=") {
			sets[n-1] += "," + s
			continue
		}
		sets = append(sets, s)
	}
	for _, s := range sets {
		key, value, ok := strings.Cut(s, "=")
		if !ok || key == "" {
			return g, fmt.Errorf("--set %q: want KEY=VALUE[,VALUE…]", s)
		}
		if src, dup := byFlag[key]; dup {
			return g, fmt.Errorf("%s: given twice, by %s and by --set %s", key, src, s)
		}
		add(key, "--set "+s, value, false)
	}
	return g, nil
}

func newSweepRunCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a sweep's unfinished runs on this machine",
		ArgsUsage: "SWEEP",
		Description: `Fits, then evaluates, every run not finished yet, --jobs at a time with the
--threads split between them. Finished runs are skipped; interrupted ones continue from
their checkpoint and evaluation state. Each run logs into runs/<name>/run.log. Ctrl-C
(or SIGTERM; SIGHUP exits 129) stops every run within a step, keeping its checkpoint;
run the same command to go on.

` + exitStatusHelp,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: 1, Usage: "runs at a time"},
		},
		Action: func(c *cli.Context) error {
			dir, err := sweepArg(c)
			if err != nil {
				return err
			}
			if c.Int("jobs") < 1 {
				return usagef("--jobs %d: want at least 1", c.Int("jobs"))
			}
			if err := ort.Init(g.ORTLib); err != nil {
				return err
			}
			d := newSweepDisplay(*g, c.App.Writer, c.App.ErrWriter)
			sum, err := sweep.RunLocal(c.Context, dir, sweep.Options{Jobs: c.Int("jobs"), Threads: g.Threads, Kernels: g.CPUKernels, Progress: d.update})
			d.finish()
			if err != nil && c.Context.Err() != nil {
				return fmt.Errorf("%w; go on with: taetctl sweep run %s", err, dir)
			} else if err != nil {
				return err
			}
			elsewhere := ""
			if len(sum.Elsewhere) > 0 {
				elsewhere = "; being run by another process: " + strings.Join(sum.Elsewhere, ", ")
			}
			d.p.note("%d of %d runs of %s finished%s (taetctl sweep status %s)", sum.Finished, sum.Runs, dir, elsewhere, dir)
			return nil
		},
	}
}

// sweepArg returns the SWEEP argument, checked to hold a manifest.
func sweepArg(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", usagef("want one argument, the sweep directory (taetctl sweep init --out makes one)")
	}
	dir := c.Args().First()
	if _, err := sweep.Load(dir); err != nil {
		return "", dataError{err}
	}
	return dir, nil
}

// sweepDisplay shows a sweep's progress: one bar over every run's epochs
// and evaluations on a terminal, else each run's log lines.
type sweepDisplay struct {
	p     printer
	bar   *progressbar.ProgressBar
	units map[int][2]int // run index → done, total
}

func newSweepDisplay(g globalOptions, stdout, stderr io.Writer) *sweepDisplay {
	return &sweepDisplay{p: newPrinter(g, stdout, stderr), units: map[int][2]int{}}
}

func (d *sweepDisplay) update(e sweep.Event) {
	done, total := e.State.Units()
	d.units[e.Run.Index] = [2]int{done, total}
	if !d.p.bar() {
		if e.Line != "" {
			d.p.progress(map[string]any{"message_type": "status", "run": e.Run.Name, "stage": e.State.Stage,
				"epoch": e.State.Epoch, "epochs": e.State.Epochs, "evals": e.State.Evals, "line": e.Line},
				"%s: %s", e.Run.Name, e.Line)
		}
		return
	}
	var sumDone, sumTotal, finished int
	for _, u := range d.units {
		sumDone, sumTotal = sumDone+u[0], sumTotal+u[1]
		if u[0] == u[1] {
			finished++
		}
	}
	if d.bar == nil {
		d.bar = newBar(d.p, sumTotal)
	}
	d.bar.ChangeMax(sumTotal)
	d.bar.Describe(fmt.Sprintf("%d/%d runs finished; %s: %s", finished, len(d.units), e.Run.Name, e.State))
	d.bar.Set(sumDone)
}

func (d *sweepDisplay) finish() {
	if d.bar != nil {
		d.bar.Finish()
	}
}

func newSweepTaskCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "task",
		Usage:     "run one run of a sweep (what a Slurm array task executes)",
		ArgsUsage: "SWEEP",
		Description: `Fits run --index, resuming from its checkpoint, then evaluates it; a finished
run is left alone. SIGTERM (Slurm's before a time limit or preemption) checkpoints and
exits 130, so the requeued task continues. Progress goes to the run's run.log and stderr.

` + exitStatusHelp,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "index", Value: -1, Usage: "run index (the Slurm array task id) (required)"},
		},
		Action: func(c *cli.Context) error {
			dir, err := sweepArg(c)
			if err != nil {
				return err
			}
			if !c.IsSet("index") {
				return usagef("--index: give the run index")
			}
			if err := ort.Init(g.ORTLib); err != nil {
				return err
			}
			p := newPrinter(*g, c.App.Writer, c.App.ErrWriter)
			err = sweep.RunTask(c.Context, dir, c.Int("index"), sweep.Options{Threads: g.Threads, Kernels: g.CPUKernels, Progress: func(e sweep.Event) {
				if e.Line != "" {
					p.progress(map[string]any{"message_type": "status", "run": e.Run.Name, "line": e.Line}, "%s: %s", e.Run.Name, e.Line)
				}
			}})
			if errors.Is(err, sweep.ErrIndex) {
				return usageError{err}
			}
			return err
		},
	}
}

func newSweepSlurmCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "slurm",
		Usage:     "write (and --submit) the sweep's Slurm job array: one task per run",
		ArgsUsage: "SWEEP",
		Description: `Writes SWEEP/slurm/array.sbatch: #SBATCH --array=0-(n-1)%K, --requeue, output
into SWEEP/slurm/, SIGTERM 120 s before the time limit (the task checkpoints), each task
exec-ing this taetctl binary (its absolute path: install it where the nodes see it,
and keep SWEEP on a shared file system). --submit runs sbatch and records the job id in
SWEEP/slurm/job-id, which taetctl sweep status reads. Every value is checked against
what sbatch accepts for its option (--partition: names of letters, digits, _ - . and
commas between them; --time: minutes, minutes:seconds, hours:minutes:seconds,
days-hours, days-hours:minutes, days-hours:minutes:seconds or UNLIMITED), and any other
is refused (exit 2) before the script is written; paths in it are quoted.

` + exitStatusHelp,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "submit", Usage: "submit the script with sbatch"},
			&cli.StringFlag{Name: "partition", Usage: "Slurm partition (default: the cluster's)"},
			&cli.StringFlag{Name: "time", Usage: "time limit per task, e.g. 8:00:00 (default: the partition's)"},
			&cli.IntFlag{Name: "gpus-per-task", Usage: "GPUs per task (set --device cuda in sweep init to use them)"},
			&cli.IntFlag{Name: "cpus-per-task", Usage: "CPUs per task, also its --threads"},
			&cli.IntFlag{Name: "max-parallel", Usage: "tasks running at a time (0 = as Slurm allows)"},
			&cli.StringFlag{Name: "taetctl", Usage: "taetctl binary the tasks run (default: this one)"},
		},
		Action: func(c *cli.Context) error {
			dir, err := sweepArg(c)
			if err != nil {
				return err
			}
			bin := c.String("taetctl")
			if bin == "" {
				if bin, err = os.Executable(); err != nil {
					return err
				}
			}
			if bin, err = filepath.Abs(bin); err != nil {
				return err
			}
			o := sweep.SlurmOptions{Binary: bin, Partition: c.String("partition"), Time: c.String("time"),
				GPUsPerTask: c.Int("gpus-per-task"), CPUsPerTask: c.Int("cpus-per-task"), MaxParallel: c.Int("max-parallel")}
			if g.CPUKernels != ort.Default { // the tasks run what this command was told
				o.Kernels = g.CPUKernels.String()
			}
			if err := o.Validate(); err != nil {
				return usagef("--%w", err) // before the sweep is read: OptionError names the flag
			}
			script, err := sweep.WriteSlurm(dir, o)
			if err != nil {
				return err
			}
			p := newPrinter(*g, c.App.Writer, c.App.ErrWriter)
			result := map[string]any{"message_type": "slurm", "script": script}
			if c.Bool("submit") {
				job, err := sweep.Submit(c.Context, dir)
				if err != nil {
					return err
				}
				result["job_id"] = job
			}
			return p.result(result, func(w io.Writer) error {
				fmt.Fprintf(w, "script  %s\n", script)
				if job, ok := result["job_id"]; ok {
					fmt.Fprintf(w, "job     %s (taetctl sweep status %s)\n", job, dir)
				}
				return nil
			})
		},
	}
}

func newSweepStatusCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "each run's stage and epoch, from its files (and squeue's state of a submitted sweep)",
		ArgsUsage: "SWEEP",
		Action: func(c *cli.Context) error {
			dir, err := sweepArg(c)
			if err != nil {
				return err
			}
			m, _ := sweep.Load(dir)
			var queue map[int]string
			if job := sweep.JobID(dir); job != "" {
				queue, _ = sweep.Squeue(c.Context, job) // no squeue here: the files alone
			}
			type line struct {
				MessageType string `json:"message_type"`
				Index       int    `json:"index"`
				Name        string `json:"name"`
				Stage       string `json:"stage"`
				Epoch       int    `json:"epoch"`
				Epochs      int    `json:"epochs"`
				Evals       int    `json:"evals"`
				Of          int    `json:"evals_total"`
				Error       string `json:"error,omitempty"`
				Slurm       string `json:"slurm,omitempty"`
			}
			lines := make([]line, len(m.Runs))
			for i, r := range m.Runs {
				s := sweep.StateOf(dir, r)
				lines[i] = line{"run_status", r.Index, r.Name, string(s.Stage), s.Epoch, s.Epochs, s.Evals, s.Of, s.Err, queue[r.Index]}
			}
			p := newPrinter(*g, c.App.Writer, c.App.ErrWriter)
			return resultLines(p, lines, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "RUN\tSTAGE\tEPOCH\tEVALS\tSLURM\tERROR")
				for _, l := range lines {
					fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d/%d\t%s\t%s\n", l.Name, l.Stage, l.Epoch, l.Epochs, l.Evals, l.Of, l.Slurm, l.Error)
				}
				return tw.Flush()
			})
		},
	}
}
