package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/taet-ml/taet/report"
	"github.com/taet-ml/taet/sweep"
	"github.com/urfave/cli/v2"
)

func newReportCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "tables, figures and an HTML page over a sweep's runs or given run directories, aggregated over seeds",
		ArgsUsage: "SWEEP | RUN…",
		Description: `Reads a sweep directory (one holding sweep.json) or run directories of
taetctl fit, each with its evaluation records (RUN/eval/LABEL.json, from taetctl
eval --record or taetctl sweep), and groups the runs into configurations: a sweep
run's axis values without the seed, or a bare run's fit settings without the seed
(named by the settings that differ between the runs given). Per configuration and
per evaluation label, over seeds: mean ± sample standard deviation and n of clean
balanced accuracy, balanced robustness per attack, tail-class recall (clean and
per attack) and wall time (fit, evaluation, total).

Writes into --out (default SWEEP/report, or ./report for run directories):
  report.md, report.csv (configuration × label × metric: mean, std, n),
  report.json (the same with every run's value), figures/*.png (per-class
  recall against training count, training curves, robustness against accuracy)
  and report.html, one self-contained page with the figures embedded.
Unfinished runs are reported with what they lack; what exists is aggregated.

` + exitStatusHelp,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "report directory (default: SWEEP/report, or ./report for run directories)"},
			&cli.StringFlag{Name: "title", Usage: "the report's title (default: the sweep's directory name, or \"taet report\")"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("report takes a sweep directory or run directories")
			}
			return runReport(c.Args().Slice(), c.String("out"), c.String("title"), *g, c.App.Writer)
		},
	}
}

// reportSummary is what report prints with --json.
type reportSummary struct {
	MessageType    string           `json:"message_type"` // "report"
	Dir            string           `json:"dir"`
	Configurations int              `json:"configurations"`
	Runs           int              `json:"runs"`
	Missing        []report.Missing `json:"missing,omitempty"`
}

// runReport reports the sweep args[0] or the run directories args into out.
func runReport(args []string, out, title string, g globalOptions, w io.Writer) error {
	var (
		runs []*report.Run
		err  error
	)
	_, statErr := os.Stat(filepath.Join(args[0], sweep.ManifestFile))
	switch {
	case statErr == nil && len(args) > 1:
		return usagef("%s is a sweep: give it alone, or run directories only", args[0])
	case statErr == nil:
		runs, err = report.LoadSweep(args[0])
		if out == "" {
			out = filepath.Join(args[0], "report")
		}
		if title == "" {
			abs, _ := filepath.Abs(args[0])
			title = "Sweep " + filepath.Base(abs)
		}
	case errors.Is(statErr, fs.ErrNotExist):
		runs, err = report.LoadRuns(args)
		if out == "" {
			out = "report"
		}
		if title == "" {
			title = "taet report"
		}
	default:
		err = statErr
	}
	if err != nil {
		return dataError{err}
	}
	rep := report.Aggregate(title, runs)
	if err := rep.Write(out); err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	s := reportSummary{MessageType: "report", Dir: out, Configurations: len(rep.Configs), Runs: len(runs), Missing: rep.Missing}
	return newPrinter(g, w, nil).result(s, func(w io.Writer) error {
		fmt.Fprintf(w, "%d runs in %d configurations; wrote %s (and report.md, report.csv, report.json, figures/)\n",
			len(runs), len(rep.Configs), filepath.Join(out, report.HTMLFile))
		for _, m := range rep.Missing {
			fmt.Fprintf(w, "incomplete: %s (%s): %v\n", m.Run, m.Dir, m.What)
		}
		return nil
	})
}
