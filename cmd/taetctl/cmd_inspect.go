package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/taet-ml/taet/export"
	"github.com/taet-ml/taet/onnx"
	"github.com/urfave/cli/v2"
)

func newInspectCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "summarise an ONNX file: inputs, outputs, opset, ops, parameter count, metadata",
		ArgsUsage: "FILE",
		Description: `Reads any ONNX model and prints its inputs and outputs (name, element type,
shape; symbolic dimensions by name, unknown ones as ?), IR version, opsets,
producer, the number of nodes of each op type (subgraphs included), the number
of parameters (elements of all initializers) and the metadata_props.
Initializers that old models also list as inputs are not shown as inputs.
With --json, stdout is one "inspect" object. No ONNX Runtime needed.

` + exitStatusHelp,
		Flags: []cli.Flag{},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("inspect takes one ONNX file, got %d arguments", c.NArg())
			}
			return runInspect(c.Args().First(), *g, c.App.Writer)
		},
	}
}

// inspectReport is what inspect prints with --json.
type inspectReport struct {
	MessageType string `json:"message_type"` // "inspect"
	File        string `json:"file"`
	Bytes       int64  `json:"bytes"`
	export.Summary
}

// runInspect summarises the ONNX file at path; it has no urfave types so tests call it.
func runInspect(path string, g globalOptions, w io.Writer) error {
	fi, err := os.Stat(path)
	if err != nil {
		return dataError{err}
	}
	m, err := onnx.ReadFile(path)
	if err != nil {
		return dataError{err}
	}
	r := inspectReport{MessageType: "inspect", File: path, Bytes: fi.Size(), Summary: export.Summarize(m)}
	return newPrinter(g, w, nil).result(r, r.writeText)
}

// writeText writes r as tables.
func (r inspectReport) writeText(w io.Writer) error {
	s := r.Summary
	opsets := ""
	for _, d := range slices.Sorted(maps.Keys(s.Opsets)) {
		opsets += fmt.Sprintf(", opset %s %d", d, s.Opsets[d])
	}
	if err := table(w, "", [][2]string{
		{"file", fmt.Sprintf("%s (%d bytes)", r.File, r.Bytes)},
		{"producer", s.ProducerName + " " + s.ProducerVersion},
		{"format", fmt.Sprintf("IR version %d%s", s.IRVersion, opsets)},
		{"graph", fmt.Sprintf("%q: %d nodes, %d initializers, %d parameters", s.Graph, s.Nodes, s.Initializers, s.Parameters)},
	}); err != nil {
		return err
	}
	var inputs, outputs, ops, meta [][2]string
	for _, t := range s.Inputs {
		inputs = append(inputs, [2]string{t.Name, t.DType + " " + shapeString(t.Shape)})
	}
	for _, t := range s.Outputs {
		outputs = append(outputs, [2]string{t.Name, t.DType + " " + shapeString(t.Shape)})
	}
	names := slices.Collect(maps.Keys(s.Ops))
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(s.Ops[b], s.Ops[a]), cmp.Compare(a, b)) })
	for _, op := range names {
		ops = append(ops, [2]string{op, strconv.Itoa(s.Ops[op])})
	}
	for _, k := range slices.Sorted(maps.Keys(s.Metadata)) {
		meta = append(meta, [2]string{k, s.Metadata[k]})
	}
	for _, sec := range []struct {
		title string
		rows  [][2]string
	}{{"inputs", inputs}, {"outputs", outputs}, {"ops", ops}, {"metadata", meta}} {
		if len(sec.rows) == 0 {
			continue
		}
		fmt.Fprintln(w, sec.title)
		if err := table(w, "  ", sec.rows); err != nil {
			return err
		}
	}
	return nil
}

// table writes rows as two aligned columns, each line starting with indent.
func table(w io.Writer, indent string, rows [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s%s\t%s\n", indent, r[0], r[1])
	}
	return tw.Flush()
}
