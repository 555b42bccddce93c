package main

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/taet-ml/taet/onnx/ort"
	"github.com/urfave/cli/v2"
)

// version is taet's version; release builds override it with
// -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// globalOptions are the flags every command sees.
type globalOptions struct {
	JSON    bool   // JSON Lines on stdout, JSON errors on stderr
	Quiet   bool   // no progress output
	ORTLib  string // path of libonnxruntime.so; "" = the installed default
	Threads int    // intra-op threads for the CPU execution provider; 0 = one per CPU
	// CPUKernels is how CPU sessions run convolutions whose weights change:
	// ort.Default (the fastest available), or the --cpu-kernels choice
	// resolved (onednn where it loads, else blocked; or standard).
	CPUKernels ort.CPUKernels
	noticed    bool // the --cpu-kernels fallback notice was printed
}

func newApp(g *globalOptions) *cli.App {
	app := &cli.App{
		Name:    "taetctl",
		Usage:   "adversarially robust training on long-tailed data (TAET), with ONNX Runtime",
		Version: version,
		Flags:   globalFlags(),
		Before: func(c *cli.Context) error { // the app's level: the whole command line is in c.Args()
			if err := checkRepeated(c.App.Commands, c.Args().Slice()); err != nil {
				return err
			}
			return g.read(c)
		},
		Commands: []*cli.Command{
			newVersionCommand(g),
			newDataCommand(g),
			newOpsCommand(g),
			newFitCommand(g),
			newEvalCommand(g),
			newSweepCommand(g),
			flagsAfterArgs(newReportCommand(g)),
			newBuildGraphCommand(g),
			newExportCommand(g),
			flagsAfterArgs(newInspectCommand(g)),
			newDeviceCheckCommand(g), // scripts/gpu-check.sh
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("no command %q; see taetctl --help", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		// Never exit from inside Run: deferred Close calls must run (see STYLE.md).
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
	}
	for _, c := range app.Commands {
		acceptGlobalFlags(c, g)
	}
	return app
}

// globalFlags are the flags of globalOptions. Every command accepts them
// too, so `taetctl ops --json` works as `taetctl --json ops` does.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "json", Usage: "print results as JSON Lines on stdout", EnvVars: []string{"TAET_JSON"}},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output", EnvVars: []string{"TAET_QUIET"}},
		&cli.StringFlag{Name: "ort-lib", Usage: "path of the ONNX Runtime shared library (default: third_party/onnxruntime/libonnxruntime.so.1 beside the repository, then the system's)", EnvVars: []string{"TAET_ORT_LIB", "ONNXRUNTIME_SHARED_LIBRARY_PATH"}},
		&cli.IntFlag{Name: "threads", Usage: fmt.Sprintf("intra-op threads for the CPU execution provider: 1…%d (%d per CPU available here), or 0 for one per CPU", ort.MaxThreads(), ort.MaxThreads()/ort.AvailableCPUs()), EnvVars: []string{"TAET_THREADS"}},
		&cli.StringFlag{Name: "cpu-kernels", DefaultText: "onednn where libdnnl.so.2 loads, else blocked", Usage: "how CPU sessions run convolutions: onednn (oneDNN's convolutions and their gradients, training-mode BatchNorm, LayerNorm, their gradients, ReLU gradients), blocked (ONNX Runtime's blocked-layout kernels) or standard (the graph as written)", EnvVars: []string{"TAET_CPU_KERNELS"}},
	}
}

// read checks the flags of c's level (checkFlags) and copies the global
// flags set (or given by environment) there into g; a level below
// overrides a level above.
func (g *globalOptions) read(c *cli.Context) error {
	if err := checkFlags(c); err != nil {
		return err
	}
	if c.IsSet("json") {
		g.JSON = c.Bool("json")
	}
	if c.IsSet("quiet") {
		g.Quiet = c.Bool("quiet")
	}
	if c.IsSet("ort-lib") {
		g.ORTLib = c.String("ort-lib")
	}
	if c.IsSet("threads") {
		g.Threads = c.Int("threads")
		if err := ort.CheckThreads(g.Threads); err != nil {
			return usagef("--threads: %v", err)
		}
	}
	if c.IsSet("cpu-kernels") {
		k, err := ort.ParseCPUKernels(c.String("cpu-kernels"))
		if err != nil {
			return usagef("--cpu-kernels: %v", err)
		}
		k, notice := k.Resolve()
		if notice != nil && !g.noticed {
			newPrinter(*g, c.App.Writer, c.App.ErrWriter).note("taetctl: --%v", notice)
			g.noticed = true
		}
		g.CPUKernels = k
	}
	return nil
}

// acceptGlobalFlags adds the global flags to c and its subcommands.
func acceptGlobalFlags(c *cli.Command, g *globalOptions) {
	c.Flags = append(c.Flags, globalFlags()...)
	c.Before = g.read
	c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	for _, sub := range c.Subcommands {
		acceptGlobalFlags(sub, g)
	}
}

// checkFlags rejects, for every command at once, values that parse but
// cannot mean anything: NaN or ±Inf in a floating-point flag.
func checkFlags(c *cli.Context) error {
	var flags []cli.Flag
	if c.Command != nil && c.Command.Name != "" {
		flags = c.Command.Flags
	} else {
		flags = c.App.Flags
	}
	for _, f := range flags {
		if ff, ok := f.(*cli.Float64Flag); ok && c.IsSet(ff.Name) {
			if v := c.Float64(ff.Name); math.IsNaN(v) || math.IsInf(v, 0) {
				return usagef("--%s %v: want a finite number", ff.Name, v)
			}
		}
	}
	return nil
}

// checkRepeated refuses a flag given twice to one command, under any of
// its names (--method taet --method at, -o a --out b): the parser would
// keep the last without a word. Flags meant to repeat, the slice flags
// (--stage, --set, --attacks, --milestones), may. args is the command line
// after the app's own flags, the command first; it is read as Go's flag
// package reads it (--name=value or --name value, booleans without a
// value, nothing after --), across arguments too, as flagsAfterArgs
// commands take flags after them. Unknown flags are left to the parser.
func checkRepeated(cmds []*cli.Command, args []string) error {
	var flags []cli.Flag
	given := map[string]string{} // a flag's first name → how it was given
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if j := slices.IndexFunc(cmds, func(c *cli.Command) bool { return c.HasName(a) }); j >= 0 {
				flags, cmds, given = cmds[j].Flags, cmds[j].Subcommands, map[string]string{}
			}
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		j := slices.IndexFunc(flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), name) })
		if j < 0 {
			continue
		}
		f := flags[j]
		if df, ok := f.(cli.DocGenerationFlag); ok && df.TakesValue() && !hasValue && i+1 < len(args) {
			i++
			a += " " + args[i]
		}
		if sf, ok := f.(cli.DocGenerationSliceFlag); ok && sf.IsSliceFlag() {
			continue
		}
		first := f.Names()[0]
		if prev, dup := given[first]; dup {
			return usagef("--%s given twice (%s, then %s): give each flag once", first, prev, a)
		}
		given[first] = a
	}
	return nil
}

// flagsAfterArgs lets cmd take its flags after its arguments too
// (taetctl sweep run SWEEP -j 2, taetctl report SWEEP --out DIR), where
// urfave/cli stops parsing flags: it runs cmd again with the leading
// arguments moved after the flags.
func flagsAfterArgs(cmd *cli.Command) *cli.Command {
	action := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		args := c.Args().Slice()
		first := slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, "-") })
		if first <= 0 || args[first] == "--" {
			return action(c)
		}
		return cmd.Run(c.Lineage()[1], append(append([]string{cmd.Name}, args[first:]...), args[:first]...)...)
	}
	return cmd
}
