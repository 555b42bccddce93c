package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/taet-ml/taet/devcheck"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/urfave/cli/v2"
)

func newDeviceCheckCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "device-check",
		Usage: "verify one section of an execution provider against the CPU, as one JSON report",
		Description: `Runs one section of the GPU verification (package devcheck) and prints its
report as one JSON object: ` + strings.Join(devcheck.Sections, ", ") + `.
scripts/gpu-check.sh runs every section in its own process and collects the
reports. --small runs at the sizes of the script's --dry-run.
A failed section still prints its report, then exits 1.

` + exitStatusHelp,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "section", Usage: "section to run: " + strings.Join(devcheck.Sections, ", ") + " (required)"},
			&cli.StringFlag{Name: "device", Value: "cuda", Usage: "execution provider checked: cpu, cuda or cuda:N"},
			&cli.BoolFlag{Name: "small", Usage: "small networks and batches (seconds on a CPU)"},
		},
		Action: func(c *cli.Context) error {
			section := c.String("section")
			if !slices.Contains(devcheck.Sections, section) {
				return usagef("--section %q: want one of %s", section, strings.Join(devcheck.Sections, ", "))
			}
			dev, err := ort.ParseDevice(c.String("device"))
			if err != nil {
				return usagef("--device: %v", err)
			}
			if err := ort.Init(g.ORTLib); err != nil {
				return err
			}
			sizes := devcheck.Full
			if c.Bool("small") {
				sizes = devcheck.Small
			}
			return printDeviceCheck(c.App.Writer, devcheck.Run(c.Context, section, dev, sizes, g.Threads))
		},
	}
}

// printDeviceCheck writes r as one JSON line and returns an error if the
// section failed.
func printDeviceCheck(w io.Writer, r devcheck.Report) error {
	if err := json.NewEncoder(w).Encode(r); err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("device-check %s on %s failed: %s", r.Section, r.Device, r.Error)
	}
	return nil
}
