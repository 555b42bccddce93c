package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/atomicfile"
	"github.com/taet-ml/taet/internal/safetensors"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/models"
	"github.com/urfave/cli/v2"
)

// buildGraphOptions are the flags of `taetctl build-graph`.
type buildGraphOptions struct {
	Model     string
	Classes   int
	ImageSize int
	Channels  int
	Width     float64
	Loss      string
	Batch     int
	Seed      uint64
	Out       string
}

func newBuildGraphCommand(g *globalOptions) *cli.Command {
	var o buildGraphOptions
	return &cli.Command{
		Name:  "build-graph",
		Usage: "write a model's train-step, input-gradient and eval graphs, initial parameters and a manifest",
		Description: `Writes into --out:
  train.onnx        x, y and every parameter → loss, logits, <param>_grad, <buffer>_updated
  input_grad.onnx   x, y and every parameter → loss, logits, x_grad (BatchNorm in inference mode)
  eval.onnx         x → logits, with the initial parameters stored in the graph
  params.safetensors  the initial parameters (torchvision names, torchvision initialisation)
  manifest.json     inputs, outputs, shapes, parameter count and the files' SHA-256
Graphs have static shapes: one batch size per graph. The loss head of the train-step
and input-gradient graphs is --loss (bsl with uniform class counts is plain CE).

` + exitStatusHelp,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Value: "resnet18", Usage: "model: " + strings.Join(models.Names(), ", "), Destination: &o.Model},
			&cli.IntFlag{Name: "classes", Value: 10, Usage: "number of classes", Destination: &o.Classes},
			&cli.IntFlag{Name: "image-size", Value: 32, Usage: "input height and width in pixels", Destination: &o.ImageSize},
			&cli.IntFlag{Name: "channels", Value: 3, Usage: "input channels", Destination: &o.Channels},
			&cli.Float64Flag{Name: "width", Value: 1, Usage: "width multiplier", Destination: &o.Width},
			&cli.StringFlag{Name: "loss", Value: "ce", Usage: "loss head: ce, bsl or hel", Destination: &o.Loss},
			&cli.IntFlag{Name: "batch", Value: 128, Usage: "batch size", Destination: &o.Batch},
			&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "seed of the initial parameters", Destination: &o.Seed},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "graphs", Usage: "output directory", Destination: &o.Out},
		},
		Action: func(c *cli.Context) error {
			if err := o.validate(); err != nil {
				return usageError{err}
			}
			return runBuildGraph(o, *g, c.App.Writer)
		},
	}
}

func (o buildGraphOptions) validate() error {
	switch {
	case o.Classes < 2:
		return fmt.Errorf("--classes %d: want at least 2", o.Classes)
	case o.ImageSize < 1 || o.Channels < 1 || o.Batch < 1:
		return fmt.Errorf("--image-size, --channels and --batch must be positive")
	case o.Loss != "ce" && o.Loss != "bsl" && o.Loss != "hel":
		return fmt.Errorf("--loss %q: want ce, bsl or hel", o.Loss)
	}
	return nil
}

// manifest describes what build-graph wrote.
type manifest struct {
	MessageType string              `json:"message_type"`
	Model       string              `json:"model"`
	Loss        string              `json:"loss"`
	Batch       int                 `json:"batch"`
	Image       []int64             `json:"image"`
	Classes     int                 `json:"classes"`
	Params      int64               `json:"params"`
	Graphs      map[string]graphDoc `json:"graphs"`
	Files       map[string]string   `json:"files"` // name → SHA-256
}

type graphDoc struct {
	File    string             `json:"file"`
	Inputs  []graphs.ValueInfo `json:"inputs"`
	Outputs []graphs.ValueInfo `json:"outputs"`
	Nodes   int                `json:"nodes"`
}

func runBuildGraph(o buildGraphOptions, g globalOptions, w io.Writer) error {
	net, err := models.ByName(o.Model, models.Options{Classes: o.Classes, ImageSize: o.ImageSize, Width: o.Width})
	if err != nil {
		return usageError{err}
	}
	counts := make([]int, o.Classes)
	for i := range counts {
		counts[i] = 1
	}
	head, err := losses.ByName(o.Loss, losses.Options{ClassCounts: counts}) // ByName knows bsl as balanced-softmax
	if err != nil {
		return usageError{err}
	}
	spec := graphs.GraphSpec{Name: o.Model, Batch: int64(o.Batch), Image: []int64{int64(o.Channels), int64(o.ImageSize), int64(o.ImageSize)}, Net: net, Loss: head}
	ts, err := graphs.TrainStepGraph(spec)
	if err != nil {
		return err
	}
	ig, err := graphs.InputGradGraph(spec, nil)
	if err != nil {
		return err
	}
	values := graphs.InitParams(ts.Params, o.Seed)
	ev, err := graphs.EvalGraph(spec, values)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	m := manifest{MessageType: "manifest", Model: o.Model, Loss: o.Loss, Batch: o.Batch, Image: spec.Image, Classes: o.Classes,
		Params: models.ParamCount(ts.Params), Graphs: map[string]graphDoc{}, Files: map[string]string{}}
	write := func(file string, b []byte) error {
		if err := atomicfile.Write(filepath.Join(o.Out, file), b); err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m.Files[file] = hex.EncodeToString(sum[:])
		return nil
	}
	for kind, a := range map[string]*graphs.Assembled{"train": ts, "input_grad": ig, "eval": ev} {
		b, err := a.Bytes()
		if err != nil {
			return err
		}
		file := kind + ".onnx"
		if err := write(file, b); err != nil {
			return err
		}
		m.Graphs[kind] = graphDoc{File: file, Inputs: a.Inputs, Outputs: a.Outputs, Nodes: len(a.Proto.GetGraph().GetNode())}
	}
	var tensors []safetensors.Tensor
	for _, p := range ts.Params {
		tensors = append(tensors, safetensors.Tensor{Name: p.Name, Shape: p.Shape, Data: values[p.Name]})
	}
	b, err := safetensors.Encode(tensors, map[string]string{"model": o.Model, "seed": fmt.Sprint(o.Seed)})
	if err != nil {
		return err
	}
	if err := write("params.safetensors", b); err != nil {
		return err
	}
	mb, err := jsonIndent(m)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(o.Out, "manifest.json"), mb); err != nil {
		return err
	}
	return newPrinter(g, w, nil).result(m, func(w io.Writer) error {
		return printBuildGraph(w, o, m, spec.Image)
	})
}

// printBuildGraph describes the graphs written.
func printBuildGraph(w io.Writer, o buildGraphOptions, m manifest, image []int64) error {
	fmt.Fprintf(w, "%s, %d parameters, loss %s, batch %d, image %v → %s\n", o.Model, m.Params, o.Loss, o.Batch, image, o.Out)
	for _, kind := range []string{"train", "input_grad", "eval"} {
		d := m.Graphs[kind]
		fmt.Fprintf(w, "  %-17s %5d nodes, %3d inputs, %3d outputs\n", d.File, d.Nodes, len(d.Inputs), len(d.Outputs))
	}
	fmt.Fprintf(w, "  params.safetensors, manifest.json\n")
	return nil
}
