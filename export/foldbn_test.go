package export_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/taet-ml/taet/export"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// uniform returns n values uniform in [lo, hi).
func uniform(rng *rand.Rand, n int64, lo, hi float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float32()
	}
	return v
}

// convBN builds x [2, 3, 5, 5] → Conv (4 channels, 3×3, optional bias) →
// BatchNormalization (inference, random statistics) → Relu; with
// convOutput the Conv's output is a graph output too.
func convBN(t *testing.T, bias, convOutput bool) *graphs.Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	m, err := graphs.Build("conv-bn", func(b *graphs.Builder) {
		x := b.Input("x", onnx.Float, 2, 3, 5, 5)
		w := b.Initializer("conv.weight", []int64{4, 3, 3, 3}, uniform(rng, 4*3*3*3, -1, 1))
		var cb *graphs.Value
		if bias {
			cb = b.Initializer("conv.bias", []int64{4}, uniform(rng, 4, -1, 1))
		}
		h := graphs.Conv(x, w, cb, graphs.ConvOpts{Pads: []int64{1, 1, 1, 1}})
		c := []int64{4}
		y := graphs.BatchNormalization(h,
			b.Initializer("bn.weight", c, uniform(rng, 4, 0.5, 2)), b.Initializer("bn.bias", c, uniform(rng, 4, -1, 1)),
			b.Initializer("bn.running_mean", c, uniform(rng, 4, -1, 1)), b.Initializer("bn.running_var", c, uniform(rng, 4, 0.1, 3)),
			graphs.BatchNormOpts{Epsilon: 1e-3})
		b.Output("y", graphs.Relu(y))
		if convOutput {
			b.Output("h", h)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func countOp(m *graphs.Model, op string) int {
	n := 0
	for _, node := range m.Proto.GetGraph().GetNode() {
		if node.GetOpType() == op {
			n++
		}
	}
	return n
}

func TestFoldBatchNorm(t *testing.T) {
	ortest.Init(t)
	x := uniform(rand.New(rand.NewPCG(3, 4)), 2*3*5*5, 0, 1)
	for _, tc := range []struct {
		name       string
		bias       bool
		convOutput bool
		wantFolded int
	}{
		{"conv-without-bias", false, false, 1},
		{"conv-with-bias", true, false, 1},
		{"conv-output-used-twice", false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := convBN(t, tc.bias, tc.convOutput)
			folded := &graphs.Model{Proto: proto.Clone(m.Proto).(*onnxpb.ModelProto), Inputs: m.Inputs, Outputs: m.Outputs}
			n, err := export.FoldBatchNorm(folded.Proto.Graph)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.wantFolded || countOp(folded, "BatchNormalization") != 1-tc.wantFolded {
				t.Fatalf("folded %d, %d BatchNormalization left; want %d folded", n, countOp(folded, "BatchNormalization"), tc.wantFolded)
			}
			if n > 0 {
				inits := folded.Proto.Graph.GetInitializer()
				if len(inits) != 2 || inits[0].GetName() != "conv.weight" || inits[1].GetName() != "conv.bias" {
					var names []string
					for _, t := range inits {
						names = append(names, t.GetName())
					}
					t.Errorf("initializers %v, want [conv.weight conv.bias]", names)
				}
			}
			ortest.Check(t, folded)
			want := ortest.Run(t, m, ortest.F32(x, 2, 3, 5, 5))
			got := ortest.Run(t, folded, ortest.F32(x, 2, 3, 5, 5))
			for o := range want {
				for i := range want[o].F {
					if d := math.Abs(float64(got[o].F[i] - want[o].F[i])); d > 1e-5*(1+math.Abs(float64(want[o].F[i]))) {
						t.Fatalf("output %d[%d]: folded %v, unfolded %v", o, i, got[o].F[i], want[o].F[i])
					}
				}
			}
		})
	}
}
