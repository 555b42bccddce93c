package ort_test

import (
	"slices"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/ort"
)

// TestBindingKeepsStateOnTheDevice runs sum = x + w, w_updated = 2·w three
// times, w_updated bound to the device and bound back as the next w, sum
// copied to a host tensor: the host sees x + 2^k·w₀ at run k.
func TestBindingKeepsStateOnTheDevice(t *testing.T) {
	ortest.Init(t)
	m, err := graphs.Build("double", func(b *graphs.Builder) {
		x := b.Input("x", onnx.Float, 2, 3)
		w := b.Input("w", onnx.Float, 2, 3)
		b.Output("sum", graphs.Add(x, w))
		b.Output("w_updated", graphs.Mul(w, b.Scalar(2)))
	})
	if err != nil {
		t.Fatal(err)
	}
	model, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewSession(model, m.InputNames(), m.OutputNames(), ort.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := s.NewBinding(ort.Device{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	xs, w0 := []float32{1, 2, 3, 4, 5, 6}, []float32{10, 20, 30, 40, 50, 60}
	x, _ := ort.NewTensor([]int64{2, 3}, xs)
	w, _ := ort.NewTensor([]int64{2, 3}, slices.Clone(w0))
	sum, _ := ort.NewZeros[float32](2, 3)
	for _, v := range []*ort.Tensor[float32]{x, w, sum} {
		defer v.Close()
	}
	if err := b.BindInput("x", x); err != nil {
		t.Fatal(err)
	}
	if err := b.BindInput("w", w); err != nil {
		t.Fatal(err)
	}
	if err := b.BindOutput("sum", sum); err != nil {
		t.Fatal(err)
	}
	if err := b.BindOutputToDevice("w_updated"); err != nil {
		t.Fatal(err)
	}
	var prev *ort.DeviceTensor
	for k := range 3 {
		out, err := b.Run()
		if err != nil {
			t.Fatalf("run %d: %v", k, err)
		}
		scale := float32(int(1) << k)
		for i := range xs {
			if want := xs[i] + scale*w0[i]; sum.Data()[i] != want {
				t.Fatalf("run %d: sum[%d] = %v, want %v", k, i, sum.Data()[i], want)
			}
		}
		next, ok := out["w_updated"]
		if !ok || len(out) != 1 {
			t.Fatalf("run %d: device outputs %v, want w_updated only", k, out)
		}
		if err := b.BindDeviceInput("w", next); err != nil {
			t.Fatal(err)
		}
		prev.Close() // no longer bound: the next run reads next
		prev = next
	}
	prev.Close()
	if !slices.Equal(w.Data(), w0) {
		t.Error("the host tensor bound first was written to")
	}
	if err := b.BindDeviceInput("w", prev); err == nil {
		t.Error("a closed device tensor was bound")
	}
}
