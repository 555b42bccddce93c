package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/taet-ml/taet/checkpoint"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/export"
	"github.com/taet-ml/taet/internal/atomicfile"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/sweep"
	"github.com/taet-ml/taet/train"
	"github.com/urfave/cli/v2"
)

// exportOptions are the flags of `taetctl export`.
type exportOptions struct {
	Checkpoint string  // checkpoint file or run directory
	Out        string  // the file to write
	Format     string  // onnx | safetensors
	NoFoldBN   bool    // keep BatchNormalization nodes
	Dataset    string  // verify on this data set's test images; "" = the checkpoint's
	Data       string  // its path; "" = the checkpoint's
	UseData    bool    // --dataset or --data given: verify on test images, not random ones
	Samples    int     // images in the verification batch
	Tolerance  float64 // relative to the logit scale
	Force      bool    // replace an existing --out (never one a run owns)
}

func newExportCommand(g *globalOptions) *cli.Command {
	var o exportOptions
	return &cli.Command{
		Name:      "export",
		Usage:     "write a checkpoint as a verified ONNX inference model, or as a torchvision state dict",
		UsageText: "taetctl export --checkpoint RUN_DIR_OR_FILE --out FILE [--format onnx|safetensors] [--no-fold-bn] [--dataset NAME] [--data PATH]",
		Description: `--format onnx (the default) writes the inference graph: input x float32 [N,C,H,W]
with pixels in [0,1] (no normalisation), N dynamic; output logits float32 [N,K];
parameters stored in the graph; BatchNorm in inference mode and folded into the
preceding convolutions (--no-fold-bn keeps it). metadata_props record the model,
the input's layout and range, the class names when the data set names them, the
method and stages, the training eps, the data set and imbalance ratio, the last
epoch's clean balanced accuracy and PGD balanced robustness, and taet's version.

Before anything is written, the model is run on ONNX Runtime and its logits
compared with the checkpoint's own eval graph (unfolded, static batch) on
--samples images: test images of the data set with --dataset or --data (each
defaults to the checkpoint's), uniform random ones otherwise. A largest
difference above --tolerance × max(1, largest |logit|) fails with exit 1 and
writes nothing. The file is written atomically, and never over another: an existing
--out is refused unless --force, which replaces it only once the new file is whole and
verified. The checkpoint itself, and the files a run or sweep directory owns (` + strings.Join(runOwned, ", ") + `),
are refused even with --force.

--format safetensors writes the parameters and BatchNorm buffers under
torchvision's state-dict names (no ONNX Runtime needed). A width-1 ResNet-18
loads into torchvision; for taet's CIFAR stem (images under 128 px):

  import torch, torchvision
  from safetensors.torch import load_file
  model = torchvision.models.resnet18(num_classes=10)
  model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)  # 1 channel for (Fashion-)MNIST
  model.maxpool = torch.nn.Identity()
  model.load_state_dict(load_file("model.safetensors"))
  model.eval()  # x: float32 [N,C,H,W] in [0,1], not normalised

` + exitStatusHelp,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "checkpoint", Aliases: []string{"c"}, Usage: "checkpoint file, or the run directory holding " + checkpoint.File + " (required)", Destination: &o.Checkpoint},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "file to write (required)", Destination: &o.Out},
			&cli.StringFlag{Name: "format", Value: "onnx", Usage: "onnx or safetensors", Destination: &o.Format},
			&cli.BoolFlag{Name: "no-fold-bn", Usage: "keep BatchNormalization nodes instead of folding them into the convolutions", Destination: &o.NoFoldBN},
			&cli.StringFlag{Name: "dataset", Usage: "verify on test images of this data set (default: the checkpoint's): " + strings.Join(data.Names(), ", "), Destination: &o.Dataset},
			&cli.StringFlag{Name: "data", Usage: "path of the --dataset files (default: the checkpoint's)", Destination: &o.Data},
			&cli.IntFlag{Name: "samples", Value: 8, Usage: "images in the verification batch", Destination: &o.Samples},
			&cli.BoolFlag{Name: "force", Usage: "replace --out if it exists (never the checkpoint or another file of a run)", Destination: &o.Force},
			&cli.Float64Flag{Name: "tolerance", Value: export.DefaultTolerance, Usage: "largest logit difference allowed, relative to max(1, largest |logit|)", Destination: &o.Tolerance},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("export takes no arguments, got %q (give the checkpoint with --checkpoint)", c.Args().Slice())
			}
			o.UseData = c.IsSet("dataset") || c.IsSet("data")
			if err := o.validate(); err != nil {
				return usageError{err}
			}
			return runExport(o, *g, c.App.Writer)
		},
	}
}

// validate checks the flags and that --out can be written.
func (o exportOptions) validate() error {
	switch {
	case o.Checkpoint == "":
		return errors.New("--checkpoint is required: a checkpoint file or a run directory")
	case o.Out == "":
		return errors.New("--out is required: the file to write")
	case o.Format != "onnx" && o.Format != "safetensors":
		return fmt.Errorf("--format %q: want onnx or safetensors", o.Format)
	case o.Samples < 1:
		return fmt.Errorf("--samples %d: want at least 1", o.Samples)
	case !(o.Tolerance > 0) || math.IsInf(o.Tolerance, 1):
		return fmt.Errorf("--tolerance %g: want a positive number", o.Tolerance)
	case o.Dataset != "" && data.Splits(o.Dataset) == nil:
		return fmt.Errorf("--dataset %q: want one of %s", o.Dataset, strings.Join(data.Names(), ", "))
	}
	fi, err := os.Stat(o.Out)
	if err == nil && fi.IsDir() {
		return fmt.Errorf("--out %s is a directory: give a file name", o.Out)
	}
	if err := checkNotOwned(o.Out, o.Checkpoint); err != nil {
		return err
	}
	if err == nil && !o.Force {
		return fmt.Errorf("--out %s exists: give --force to replace it, or another --out", o.Out)
	}
	dir := filepath.Dir(o.Out)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("--out %s: no directory %s", o.Out, dir)
	}
	probe, err := os.CreateTemp(dir, ".taetctl-export-*")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // not the probe's name
	}
	if err != nil {
		return fmt.Errorf("--out %s: cannot create files in %s: %w", o.Out, dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// runOwned are the names, in a run or sweep directory, of what fit, eval
// and sweep write there: export never writes over them, nor into them.
var runOwned = []string{checkpoint.File, checkpoint.MetricsFile, train.LockFile, evalStateFile, evalStateFile + ".lock",
	evaluate.RecordDir, sweep.LogFile, sweep.FailedFile, sweep.ManifestFile, sweep.SlurmDir, sweep.RunsDir}

// checkNotOwned refuses an out that is the checkpoint file ckpt reads
// (the same file by any name), or lies, under one of runOwned, in a run
// directory (one holding checkpoint.File or train.LockFile) or a sweep
// directory (sweep.ManifestFile) at any level above it.
func checkNotOwned(out, ckpt string) error {
	ckptFile := ckpt
	if fi, err := os.Stat(ckpt); err == nil && fi.IsDir() {
		ckptFile = filepath.Join(ckpt, checkpoint.File)
	}
	a, errA := os.Stat(out)
	b, errB := os.Stat(ckptFile)
	if errA == nil && errB == nil && os.SameFile(a, b) {
		return fmt.Errorf("--out %s is the checkpoint being exported: give another file", out)
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	if real, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(real, filepath.Base(abs))
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if isRunDir(dir) {
			rel, _ := filepath.Rel(dir, abs)
			top, _, _ := strings.Cut(rel, string(filepath.Separator))
			if slices.Contains(runOwned, top) {
				return fmt.Errorf("--out %s belongs to the run in %s (%s is written by taetctl there): give a file outside it, or another name", out, dir, top)
			}
		}
		if dir == filepath.Dir(dir) {
			return nil
		}
	}
}

// isRunDir reports whether dir is a run or a sweep directory.
func isRunDir(dir string) bool {
	for _, name := range []string{checkpoint.File, train.LockFile, sweep.ManifestFile} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// exportReport is what export prints with --json.
type exportReport struct {
	MessageType string              `json:"message_type"` // "export"
	Format      string              `json:"format"`
	Checkpoint  string              `json:"checkpoint"`
	Out         string              `json:"out"`
	Bytes       int                 `json:"bytes"`
	SHA256      string              `json:"sha256"`
	Model       string              `json:"model"`
	Parameters  int64               `json:"parameters"` // ONNX: initializer elements; safetensors: tensor elements
	Tensors     int                 `json:"tensors,omitempty"`
	Nodes       int                 `json:"nodes,omitempty"`
	FoldedBN    int                 `json:"folded_batchnorm"`
	Inputs      []export.TensorInfo `json:"inputs,omitempty"`
	Outputs     []export.TensorInfo `json:"outputs,omitempty"`
	Verify      *verifyReport       `json:"verify,omitempty"`
}

type verifyReport struct {
	export.Check
	Images    string  `json:"images"` // "random" or "<data set> test"
	Tolerance float64 `json:"tolerance"`
}

// runExport writes o.Checkpoint's network to o.Out; it has no urfave types so tests call it.
func runExport(o exportOptions, g globalOptions, w io.Writer) error {
	n, err := checkpoint.LoadNetwork(o.Checkpoint)
	if err != nil {
		return dataError{err}
	}
	r := exportReport{MessageType: "export", Format: o.Format, Checkpoint: o.Checkpoint, Out: o.Out, Model: n.Model}
	var b []byte
	if o.Format == "safetensors" {
		if b, err = export.SafeTensors(n, export.Options{Version: version}); err != nil {
			return err
		}
		for _, v := range n.Values {
			r.Parameters += int64(len(v))
		}
		r.Tensors = len(n.Values)
	} else {
		x, images, err := exportSamples(o, n)
		if err != nil {
			return err
		}
		if err := ort.Init(g.ORTLib); err != nil {
			return err
		}
		m, folded, err := export.ONNX(n, export.Options{KeepBatchNorm: o.NoFoldBN, Version: version})
		if err != nil {
			return err
		}
		if b, err = onnx.Marshal(m); err != nil {
			return err
		}
		c, err := export.Verify(b, n, x, o.Tolerance, ort.Options{Threads: g.Threads})
		if err != nil {
			return fmt.Errorf("%w; %s not written", err, o.Out)
		}
		s := export.Summarize(m)
		r.Parameters, r.Nodes, r.FoldedBN, r.Inputs, r.Outputs = s.Parameters, s.Nodes, folded, s.Inputs, s.Outputs
		r.Verify = &verifyReport{Check: c, Images: images, Tolerance: o.Tolerance}
	}
	write := atomicfile.WriteNew
	if o.Force {
		write = atomicfile.Write
	}
	if err := write(o.Out, b); errors.Is(err, fs.ErrExist) {
		return usagef("--out %s appeared while exporting: give --force to replace it, or another --out", o.Out)
	} else if err != nil {
		return fmt.Errorf("write %s: %w", o.Out, err)
	}
	sum := sha256.Sum256(b)
	r.Bytes, r.SHA256 = len(b), hex.EncodeToString(sum[:])
	return newPrinter(g, w, nil).result(r, func(w io.Writer) error {
		printExport(w, r, n)
		return nil
	})
}

// exportSamples returns the verification images: the first o.Samples test
// images of the data set when o.UseData (whose class names then replace
// n's), else uniform random ones; and how to describe them.
func exportSamples(o exportOptions, n *checkpoint.Network) ([]float32, string, error) {
	if !o.UseData {
		return n.RandomInputs(o.Samples, 0), "random", nil
	}
	cfg := n.State.Config
	name, path := o.Dataset, o.Data
	if name == "" {
		name = cfg.Dataset
	}
	if path == "" && name == cfg.Dataset {
		path = cfg.DataPath
	}
	if path == "" {
		var err error
		if path, err = (dataFetch{}).path(name); err != nil {
			return nil, "", err
		}
	}
	ds, err := data.Load(name, path, "test")
	if err != nil {
		return nil, "", dataError{err}
	}
	if err := ds.Matches(n.Options.Classes, n.Image); err != nil {
		return nil, "", dataError{fmt.Errorf("%s: %w", o.Checkpoint, err)}
	}
	if len(ds.ClassNames) == ds.Classes {
		n.ClassNames = ds.ClassNames
	}
	k := min(o.Samples, ds.N)
	return ds.Images[:k*ds.ImageSize()], fmt.Sprintf("%s test", name), nil
}

// printExport writes r as text.
func printExport(w io.Writer, r exportReport, n *checkpoint.Network) {
	meta := export.Metadata(n, export.Options{})
	desc := fmt.Sprintf("%s, width %s", r.Model, meta["width"])
	if s := meta["stem"]; s != "" {
		desc += ", " + s + " stem"
	}
	desc += ", " + meta["num_classes"] + " classes"
	kind := map[string]string{"onnx": "ONNX model", "safetensors": "safetensors state dict"}[r.Format]
	fmt.Fprintf(w, "wrote %s %s (%s)\n", kind, r.Out, desc)
	fmt.Fprintf(w, "  trained     %s [%s] on %s, imbalance ratio %s, epochs %s", meta["method"], meta["stages"], meta["dataset"], meta["imbalance_ratio"], meta["epochs"])
	if meta["clean_bacc"] != "" {
		fmt.Fprintf(w, "; clean bacc %s, PGD brob %s", short(meta["clean_bacc"]), short(meta["robust_bacc"]))
	}
	fmt.Fprintln(w)
	if r.Format == "safetensors" {
		fmt.Fprintf(w, "  tensors     %d (%d values), torchvision state-dict names\n", r.Tensors, r.Parameters)
		fmt.Fprintf(w, "  bytes       %d, sha256 %s\n", r.Bytes, r.SHA256)
		return
	}
	fmt.Fprintf(w, "  signature   %s → %s\n", signature(r.Inputs), signature(r.Outputs))
	bn := "kept"
	if r.FoldedBN > 0 {
		bn = fmt.Sprintf("folded into %d convolutions", r.FoldedBN)
	}
	fmt.Fprintf(w, "  graph       %d nodes, %d parameters, BatchNorm %s\n", r.Nodes, r.Parameters, bn)
	v := r.Verify
	fmt.Fprintf(w, "  verified    %d %s images on ONNX Runtime: max |Δlogit| %.2g ≤ %.2g (tolerance %g × logit scale %.3g)\n",
		v.Batch, v.Images, v.MaxAbsDiff, v.Bound, v.Tolerance, max(1, v.LogitScale))
	fmt.Fprintf(w, "  bytes       %d, sha256 %s\n", r.Bytes, r.SHA256)
}

// short rounds a metadata number to 4 decimals for text output.
func short(s string) string {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return strconv.FormatFloat(f, 'f', 4, 64)
}

// signature writes tensors as "x float32 [N,1,28,28]", comma-separated.
func signature(ts []export.TensorInfo) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, fmt.Sprintf("%s %s %s", t.Name, t.DType, shapeString(t.Shape)))
	}
	return strings.Join(parts, ", ")
}

// shapeString writes a shape as [N,1,28,28], or "[?…]" when the rank is unknown.
func shapeString(dims []export.Dim) string {
	if dims == nil {
		return "[?…]"
	}
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = d.String()
	}
	return "[" + strings.Join(s, ",") + "]"
}
