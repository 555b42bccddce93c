package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"

	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/urfave/cli/v2"
)

func newVersionCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print taet's version, the ONNX Runtime and oneDNN libraries, the CPU kernels and the usable execution providers",
		Description: `Loads the ONNX Runtime library (--ort-lib, TAET_ORT_LIB, or the one
scripts/install-ort.sh installed) and tries to create each execution provider.
Lists each library the CUDA provider needs where it was found ($TAET_CUDA_LIBS,
$LD_LIBRARY_PATH, /usr/local/cuda*/lib64, pip's nvidia/*/lib folders, the system's)
or as missing. Says whether oneDNN (libdnnl.so.2) loads, with its version, and
which CPU kernels sessions use (--cpu-kernels; onednn where oneDNN loads, else
blocked). A missing CUDA library or oneDNN is reported, not fatal; a missing or broken ONNX Runtime
library is reported with the rest, then exits 10.

` + exitStatusHelp,
		Action: func(c *cli.Context) error { return runVersion(*g, c.App.Writer) },
	}
}

// versionReport is what `taetctl version` prints.
type versionReport struct {
	MessageType    string            `json:"message_type"`
	Version        string            `json:"version"`
	Opset          int               `json:"opset"`
	RuntimeLibrary string            `json:"runtime_library"`
	RuntimeVersion string            `json:"runtime_version,omitempty"`
	RuntimeError   string            `json:"runtime_error,omitempty"`
	Providers      map[string]string `json:"providers"` // name → "ok" or why not
	OneDNNVersion  string            `json:"onednn_version,omitempty"`
	OneDNNError    string            `json:"onednn_error,omitempty"`
	CPUKernels     string            `json:"cpu_kernels"` // what CPU sessions use: onednn, blocked or standard
	CUDALibraries  []cudaLibrary     `json:"cuda_libraries"`
}

// cudaLibrary is one library the CUDA provider needs: where discovery found
// it, or "missing" and where it comes from.
type cudaLibrary struct {
	Name   string `json:"name"`
	Path   string `json:"path,omitempty"`
	Status string `json:"status"` // "found", "missing (SOURCE)" or "missing, optional (SOURCE)"
}

func runVersion(g globalOptions, w io.Writer) error {
	r := versionReport{MessageType: "version", Version: version, Opset: onnx.Opset,
		RuntimeLibrary: ort.LibraryPath(g.ORTLib), Providers: map[string]string{}}
	initErr := ort.Init(g.ORTLib)
	if err := initErr; err != nil {
		r.RuntimeError = err.Error()
	} else {
		r.RuntimeLibrary, r.RuntimeVersion, _ = ort.Loaded()
	}
	for name, err := range ort.Providers() {
		r.Providers[name] = "ok"
		if err != nil {
			r.Providers[name] = err.Error()
		}
	}
	if v, err := ort.OneDNNVersion(); err != nil {
		r.OneDNNError = err.Error()
	} else {
		r.OneDNNVersion = v
	}
	k, _ := g.CPUKernels.Resolve()
	r.CPUKernels = k.String()
	for _, l := range ort.CUDALibraries() {
		st := "found"
		switch {
		case l.Path == "" && l.Optional:
			st = "missing, optional (" + l.Source + ")"
		case l.Path == "":
			st = "missing (" + l.Source + ")"
		}
		r.CUDALibraries = append(r.CUDALibraries, cudaLibrary{Name: l.Soname, Path: l.Path, Status: st})
	}
	if err := newPrinter(g, w, nil).result(r, func(w io.Writer) error { return printVersion(w, r) }); err != nil {
		return err
	}
	return initErr
}

// printVersion writes r as text.
func printVersion(w io.Writer, r versionReport) error {
	fmt.Fprintf(w, "taet %s (ONNX opset %d)\n", r.Version, r.Opset)
	if r.RuntimeError != "" {
		fmt.Fprintf(w, "onnxruntime: unavailable: %s\n", r.RuntimeError)
	} else {
		fmt.Fprintf(w, "onnxruntime %s: %s\n", r.RuntimeVersion, r.RuntimeLibrary)
	}
	if r.OneDNNError != "" {
		fmt.Fprintf(w, "onednn: %s\n", r.OneDNNError)
	} else {
		fmt.Fprintf(w, "onednn %s: libdnnl.so.2\n", r.OneDNNVersion)
	}
	fmt.Fprintf(w, "cpu kernels: %s\n", r.CPUKernels)
	names := make([]string, 0, len(r.Providers))
	for n := range r.Providers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "provider %-5s %s\n", n+":", r.Providers[n])
	}
	for _, l := range r.CUDALibraries {
		fmt.Fprintf(w, "cuda library %-18s %s\n", l.Name+":", cmp.Or(l.Path, l.Status))
	}
	return nil
}
