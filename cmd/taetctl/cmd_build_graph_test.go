package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/onnx"
)

func TestBuildGraphWritesCheckedRunnableGraphs(t *testing.T) {
	for _, tc := range []buildGraphOptions{
		{Model: "resnet18", Classes: 10, ImageSize: 16, Channels: 3, Width: 1.0 / 16, Loss: "hel", Batch: 4},
		{Model: "resnet50", Classes: 5, ImageSize: 16, Channels: 1, Width: 1.0 / 16, Loss: "bsl", Batch: 2},
		{Model: "vit", Classes: 7, ImageSize: 16, Channels: 3, Width: 1.0 / 16, Loss: "ce", Batch: 3},
	} {
		t.Run(tc.Model, func(t *testing.T) {
			tc.Out = t.TempDir()
			var out bytes.Buffer
			if err := runBuildGraph(tc, globalOptions{JSON: true}, &out); err != nil {
				t.Fatal(err)
			}
			var m manifest
			if err := json.Unmarshal(out.Bytes(), &m); err != nil {
				t.Fatalf("--json output: %v", err)
			}
			if m.Params <= 0 || len(m.Files) != 4 {
				t.Errorf("manifest: %d params, files %v", m.Params, m.Files)
			}
			for _, kind := range []string{"train", "input_grad", "eval"} {
				model, err := onnx.ReadFile(filepath.Join(tc.Out, kind+".onnx"))
				if err != nil {
					t.Fatal(err)
				}
				ortest.Check(t, &graphs.Model{Proto: model})
			}
			ortest.Init(t)
			model, err := onnx.ReadFile(filepath.Join(tc.Out, "eval.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			ev := m.Graphs["eval"]
			x := make([]float32, tc.Batch*tc.Channels*tc.ImageSize*tc.ImageSize)
			for i := range x {
				x[i] = float32(i%17) / 17
			}
			got := ortest.Run(t, &graphs.Model{Proto: model, Inputs: ev.Inputs, Outputs: ev.Outputs}, ortest.F32(x, ev.Inputs[0].Shape...))
			if want := tc.Batch * tc.Classes; len(got[0].F) != want {
				t.Fatalf("%d logits, want %d", len(got[0].F), want)
			}
			for i, v := range got[0].F {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("logit %d is %v", i, v)
				}
			}
			if fi, err := os.Stat(filepath.Join(tc.Out, "manifest.json")); err != nil || fi.Size() == 0 {
				t.Errorf("manifest.json: %v", err)
			}
		})
	}
}
