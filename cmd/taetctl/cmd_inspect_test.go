package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/taet-ml/taet/checkpoint"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taet-ml/taet/export"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx"
)

// inspectJSON runs inspect --json on path, checks that the single input is
// x [N, 1, …] and returns the summary.
func inspectJSON(t *testing.T, path string) export.Summary {
	t.Helper()
	var out bytes.Buffer
	if err := runInspect(path, globalOptions{JSON: true}, &out); err != nil {
		t.Fatal(err)
	}
	var r inspectReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.MessageType != "inspect" {
		t.Fatalf("inspect --json printed %s (%v)", out.String(), err)
	}
	if in := r.Inputs; len(in) != 1 || in[0].Name != "x" || in[0].Shape[0].Param != export.BatchDim || in[0].Shape[1].Value != 1 {
		t.Errorf("inspect --json inputs %+v: want x [N, 1, …]", r.Inputs)
	}
	return r.Summary
}

// TestInspect describes an exported 1/16-width ResNet-18 (built here, no
// checkpoint or runtime needed) as text and as JSON.
func TestInspect(t *testing.T) {
	n := &checkpoint.Network{Model: "resnet18", Options: models.Options{Classes: 10, ImageSize: 12, Width: 1.0 / 16}, Image: []int64{1, 12, 12}}
	info, err := n.Params()
	if err != nil {
		t.Fatal(err)
	}
	n.Values = graphs.InitParams(info, 1)
	m, _, err := export.ONNX(n, export.Options{Version: "9.9"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := onnx.WriteFile(path, m); err != nil {
		t.Fatal(err)
	}
	s := inspectJSON(t, path)
	if s.Ops["Conv"] != 20 || s.Ops["BatchNormalization"] != 0 || s.Parameters == 0 || s.Opsets["ai.onnx"] != onnx.Opset ||
		s.Metadata["taet_version"] != "9.9" || len(s.Outputs) != 1 || s.Outputs[0].Shape[0].Param != export.BatchDim {
		t.Errorf("summary %+v", s)
	}
	var text bytes.Buffer
	if err := runInspect(path, globalOptions{}, &text); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(text.String(), "\n")
	for _, want := range [][]string{
		{"inputs"}, {"x", "float32", "[N,1,12,12]"}, {"logits", "float32", "[N,10]"}, {"Conv", "20"}, {"model", "resnet18"},
		{"format", "IR", "version", "8,", "opset", "ai.onnx", "17"}, {"producer", "taet", "9.9"},
	} {
		if !slices.ContainsFunc(lines, func(l string) bool { return slices.Equal(strings.Fields(l), want) }) {
			t.Errorf("inspect text lacks the line %q:\n%s", strings.Join(want, " "), text.String())
		}
	}
}

// TestInspectErrors checks the exit codes of bad arguments and files.
func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	notONNX := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(notONNX, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want int
		msg  string
	}{
		{[]string{"inspect"}, exitUsage, "one ONNX file"},
		{[]string{"inspect", notONNX, notONNX}, exitUsage, "one ONNX file"},
		{[]string{"inspect", filepath.Join(dir, "missing.onnx")}, exitData, "no such file"},
		{[]string{"inspect", notONNX}, exitData, "not an ONNX model"},
	} {
		t.Run(strings.ReplaceAll(strings.Join(tc.args, " "), dir, "DIR"), func(t *testing.T) {
			err := runTaetctl(tc.args...)
			if got := exitCode(context.Background(), err); got != tc.want || err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("exit %d, error %v; want exit %d and an error saying %q", got, err, tc.want, tc.msg)
			}
		})
	}
}
