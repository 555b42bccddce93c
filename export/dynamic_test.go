package export

import (
	"slices"
	"strings"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/onnxpb"
)

// TestMakeBatchDynamic builds small graphs at both probe batches and checks
// what makeBatchDynamic makes of the batch-dependent constants.
func TestMakeBatchDynamic(t *testing.T) {
	for _, tc := range []struct {
		name    string
		build   func(x *graphs.Value, n int64) *graphs.Value
		wantErr string // "" for success
		want    []int64
	}{
		{"reshape-batch-times-channels", func(x *graphs.Value, n int64) *graphs.Value {
			return graphs.Reshape(x, n*3, 4) // [-1, 4]
		}, "", []int64{-1, 4}},
		{"expand-batch", func(x *graphs.Value, n int64) *graphs.Value {
			return graphs.Add(x, graphs.Expand(x.Builder().Constant([]int64{1, 3, 4}, make([]float32, 12)), n, 3, 4))
		}, "", nil},
		{"expand-twice-the-batch", func(x *graphs.Value, n int64) *graphs.Value {
			return graphs.Expand(x.Builder().Constant([]int64{1, 1}, []float32{1}), 2*n, 1)
		}, "not the batch", nil},
		{"slice-of-the-batch", func(x *graphs.Value, n int64) *graphs.Value {
			return graphs.Slice(x, []int64{0}, []int64{n - 1}, []int64{0}, nil)
		}, "not only a Reshape or Expand shape", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gs [2]*onnxpb.GraphProto
			for i, n := range probeBatches {
				m, err := graphs.Build(tc.name, func(b *graphs.Builder) {
					b.Output("y", tc.build(b.Input("x", onnx.Float, n, 3, 4), n))
				})
				if err != nil {
					t.Fatal(err)
				}
				gs[i] = m.Proto.Graph
			}
			err := makeBatchDynamic(gs[0], gs[1])
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p := gs[0].Input[0].Type.GetTensorType().Shape.Dim[0].GetDimParam(); p != BatchDim {
				t.Errorf("input dim 0 %q, want %q", p, BatchDim)
			}
			producer := map[string]*onnxpb.NodeProto{}
			for _, n := range gs[0].Node {
				producer[n.Output[0]] = n
			}
			for _, n := range gs[0].Node {
				switch n.GetOpType() {
				case "Reshape":
					if got, _ := int64s(attr(producer[n.Input[1]], "value").GetT()); !slices.Equal(got, tc.want) {
						t.Errorf("Reshape target %v, want %v", got, tc.want)
					}
				case "Expand":
					first := gs[0].Node[0]
					if first.GetOpType() != "Shape" || first.Input[0] != "x" || producer[n.Input[1]].GetOpType() != "Concat" {
						t.Errorf("Expand shape from %s, first node %s(%v): want Concat and Shape(x)",
							producer[n.Input[1]].GetOpType(), first.GetOpType(), first.Input)
					}
				}
			}
		})
	}
}
