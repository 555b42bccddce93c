package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx"
	"github.com/urfave/cli/v2"
)

func newOpsCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "ops",
		Usage: "list the ONNX ops the graph builder emits, their versions and gradient kinds",
		Description: `Every ai.onnx op taet's graph builder can emit, the op version it emits,
the model opset that version needs, and how automatic differentiation treats it:
  rule                a gradient rule computes the input gradients
  none                no gradient flows (comparisons, Shape, ArgMax, constants)
  not-differentiable  asking for a gradient through it is an error
With --json, one JSON object per op.

` + exitStatusHelp,
		Action: func(c *cli.Context) error { return runOps(*g, c.App.Writer) },
	}
}

// opInfo is one row of `taetctl ops`.
type opInfo struct {
	MessageType string `json:"message_type"`
	Op          string `json:"op"`
	Version     int    `json:"version"`
	Opset       int64  `json:"opset"`
	Gradient    string `json:"gradient"`
}

func runOps(g globalOptions, w io.Writer) error {
	var rows []opInfo
	for _, op := range graphs.Ops() {
		rows = append(rows, opInfo{"op", op, graphs.OpVersion(op), onnx.MinOpset(op), graphs.OpGradKind(op).String()})
	}
	return resultLines(newPrinter(g, w, nil), rows, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "OP\tVERSION\tOPSET\tGRADIENT")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", r.Op, r.Version, r.Opset, r.Gradient)
		}
		return tw.Flush()
	})
}
