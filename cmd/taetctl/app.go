package main

import "github.com/urfave/cli/v2"

// version is taet's version; release builds override it with
// -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// globalOptions are the flags every command sees.
type globalOptions struct {
	JSON    bool   // JSON Lines on stdout, JSON errors on stderr
	Quiet   bool   // no progress output
	ORTLib  string // path of libonnxruntime.so; "" = the installed default
	Threads int    // intra-op threads for the CPU execution provider; 0 = all cores
}

func newApp(g *globalOptions) *cli.App {
	return &cli.App{
		Name:    "taetctl",
		Usage:   "adversarially robust training on long-tailed data (TAET), with ONNX Runtime",
		Version: version,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print results as JSON Lines on stdout", EnvVars: []string{"TAET_JSON"}, Destination: &g.JSON},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output", EnvVars: []string{"TAET_QUIET"}, Destination: &g.Quiet},
			&cli.StringFlag{Name: "ort-lib", Usage: "path of the ONNX Runtime shared library (default: third_party/onnxruntime/libonnxruntime.so.1 beside the repository, then the system's)", EnvVars: []string{"TAET_ORT_LIB", "ONNXRUNTIME_SHARED_LIBRARY_PATH"}, Destination: &g.ORTLib},
			&cli.IntFlag{Name: "threads", Usage: "intra-op threads for the CPU execution provider (0 = all cores)", EnvVars: []string{"TAET_THREADS"}, Destination: &g.Threads},
		},
		Commands: []*cli.Command{
			newVersionCommand(g),
			newDataCommand(g),
			newOpsCommand(g),
			newFitCommand(g),
			newEvalCommand(g),
			newBuildGraphCommand(g),
			newExportCommand(g),
			newInspectCommand(g),
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
}
