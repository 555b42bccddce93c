package graphs_test

import (
	"math/rand/v2"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/ort"
)

// benchGraph builds a graph of x [N, C, H, W], w [M, C, 3, 3] and g [N, M, H, W]
// whose only output is out(x, w, g), and a session on 2 threads with random inputs.
func benchGraph(b *testing.B, out func(x, w, g *graphs.Value) *graphs.Value) (*ort.Session, []ort.Value, []ort.Value) {
	b.Helper()
	ortest.Init(b)
	const n, c, m, hw = 128, 64, 64, 32
	var outShape []int64
	model, err := graphs.Build("bench", func(bd *graphs.Builder) {
		x := bd.Input("x", onnx.Float, n, c, hw, hw)
		w := bd.Input("w", onnx.Float, m, c, 3, 3)
		g := bd.Input("g", onnx.Float, n, m, hw, hw)
		o := out(x, w, g)
		outShape = o.Shape()
		bd.Output("out", o)
	})
	if err != nil {
		b.Fatal(err)
	}
	bytes, err := model.Bytes()
	if err != nil {
		b.Fatal(err)
	}
	s, err := ort.NewSession(bytes, model.InputNames(), model.OutputNames(), ort.Options{Threads: 2})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var ins []ort.Value
	for _, shape := range [][]int64{{n, c, hw, hw}, {m, c, 3, 3}, {n, m, hw, hw}} {
		t, err := ort.NewZeros[float32](shape...)
		if err != nil {
			b.Fatal(err)
		}
		for i := range t.Data() {
			t.Data()[i] = float32(rng.NormFloat64())
		}
		ins = append(ins, t)
	}
	o, err := ort.NewZeros[float32](outShape...)
	if err != nil {
		b.Fatal(err)
	}
	return s, ins, []ort.Value{o}
}

// BenchmarkConvGrad times the gradients of a realistic ResNet layer (N=128,
// 64→64 channels, 32×32, 3×3, stride 1, pad 1) against its forward conv,
// and the alternatives the rules were chosen over.
func BenchmarkConvGrad(b *testing.B) {
	pad := graphs.ConvOpts{Pads: []int64{1, 1, 1, 1}}
	gradOf := func(wrtX bool) func(x, w, g *graphs.Value) *graphs.Value {
		return func(x, w, g *graphs.Value) *graphs.Value {
			y := graphs.Conv(x, w, nil, pad)
			l := graphs.ReduceSum(graphs.Mul(y, g), nil, false)
			if wrtX {
				return graphs.Grad(l, []*graphs.Value{x})[0]
			}
			return graphs.Grad(l, []*graphs.Value{w})[0]
		}
	}
	for _, tc := range []struct {
		name string
		out  func(x, w, g *graphs.Value) *graphs.Value
	}{
		{"forward", func(x, w, _ *graphs.Value) *graphs.Value { return graphs.Conv(x, w, nil, pad) }},
		{"input-grad/rule", gradOf(true)}, // includes the forward conv the loss needs
		{"input-grad/ConvTranspose", func(_, w, g *graphs.Value) *graphs.Value { return graphs.ConvTranspose(g, w, nil, pad) }},
		{"weight-grad/rule", gradOf(false)}, // includes the forward conv
		{"weight-grad/Conv-over-batch", func(x, _, g *graphs.Value) *graphs.Value {
			// dW[m,c] = Σ_n x[n,c] ⋆ g[n,m]: a conv with the batch as channels.
			xt := graphs.Transpose(x, 1, 0, 2, 3) // [C, N, H, W]
			gt := graphs.Transpose(g, 1, 0, 2, 3) // [M, N, H, W] as weights
			return graphs.Transpose(graphs.Conv(xt, gt, nil, pad), 1, 0, 2, 3)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, ins, outs := benchGraph(b, tc.out)
			defer s.Close()
			for b.Loop() {
				if err := s.Run(ins, outs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*128)/b.Elapsed().Seconds(), "img/s")
		})
	}
}
