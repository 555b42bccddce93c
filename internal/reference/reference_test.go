package reference_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/taet-ml/taet/internal/reference"
)

// seq returns a tensor of the given shape holding start, start+1, ….
func seq(start float64, shape ...int) *reference.Tensor {
	t := reference.New(shape...)
	for i := range t.Data {
		t.Data[i] = start + float64(i)
	}
	return t
}

func filled(v float64, shape ...int) *reference.Tensor {
	t := reference.New(shape...)
	for i := range t.Data {
		t.Data[i] = v
	}
	return t
}

func randn(r *rand.Rand, shape ...int) *reference.Tensor {
	t := reference.New(shape...)
	for i := range t.Data {
		t.Data[i] = r.NormFloat64()
	}
	return t
}

func dot(a, b *reference.Tensor) float64 {
	s := 0.0
	for i := range a.Data {
		s += a.Data[i] * b.Data[i]
	}
	return s
}

// TestHandComputed compares the reference with results worked out by hand
// or taken from the examples in the ONNX operator documentation.
func TestHandComputed(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  *reference.Tensor
		want *reference.Tensor
	}{
		{"Conv/pad1", // ONNX Conv doc: conv_with_padding
			reference.Conv(seq(0, 1, 1, 5, 5), filled(1, 1, 1, 3, 3), nil, reference.ConvParams{Pads: []int{1, 1, 1, 1}}),
			reference.FromData([]float64{12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84}, 1, 1, 5, 5)},
		{"Conv/stride2/pad1", // ONNX Conv doc: conv_with_strides_padding
			reference.Conv(seq(0, 1, 1, 7, 5), filled(1, 1, 1, 3, 3), nil, reference.ConvParams{Strides: []int{2, 2}, Pads: []int{1, 1, 1, 1}}),
			reference.FromData([]float64{12, 27, 24, 63, 108, 81, 123, 198, 141, 112, 177, 124}, 1, 1, 4, 3)},
		{"Conv/bias/groups2",
			reference.Conv(seq(1, 1, 2, 1, 2), reference.FromData([]float64{1, 10, 100, 1000}, 2, 1, 1, 2), reference.FromData([]float64{0.5, -1}, 2), reference.ConvParams{Group: 2}),
			reference.FromData([]float64{1*1 + 2*10 + 0.5, 3*100 + 4*1000 - 1}, 1, 2, 1, 1)},
		{"Conv/dilation2",
			reference.Conv(seq(0, 1, 1, 3, 3), filled(1, 1, 1, 2, 2), nil, reference.ConvParams{Dilations: []int{2, 2}}),
			reference.FromData([]float64{0 + 2 + 6 + 8}, 1, 1, 1, 1)},
		{"ConvTranspose/stride2", // each input element stamps a 2x2 block of ones
			reference.ConvTranspose(seq(1, 1, 1, 2, 2), filled(1, 1, 1, 2, 2), nil, reference.ConvParams{Strides: []int{2, 2}}),
			reference.FromData([]float64{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 1, 1, 4, 4)},
		{"ConvTranspose/outputPadding",
			reference.ConvTranspose(seq(1, 1, 1, 1, 1), filled(1, 1, 1, 1, 1), reference.FromData([]float64{5}, 1), reference.ConvParams{Strides: []int{2, 2}, OutputPadding: []int{1, 1}}),
			reference.FromData([]float64{6, 5, 5, 5}, 1, 1, 2, 2)},
		{"MaxPool/pad1", // padding never wins, even over negatives
			first(reference.MaxPool(seq(-9, 1, 1, 2, 2), reference.PoolParams{Kernel: []int{2, 2}, Pads: []int{1, 1, 0, 0}})),
			reference.FromData([]float64{-9, -8, -7, -6}, 1, 1, 2, 2)},
		{"MaxPool/indices",
			second(reference.MaxPool(reference.FromData([]float64{1, 5, 3, 2, 7, 0, 0, 9}, 2, 1, 2, 2), reference.PoolParams{Kernel: []int{2, 2}})),
			reference.FromData([]float64{1, 7}, 2, 1, 1, 1)},
		{"AveragePool/excludePad",
			reference.AveragePool(seq(1, 1, 1, 2, 2), reference.PoolParams{Kernel: []int{2, 2}, Pads: []int{1, 1, 0, 0}}),
			reference.FromData([]float64{1, 1.5, 2, 2.5}, 1, 1, 2, 2)},
		{"AveragePool/includePad",
			reference.AveragePool(seq(1, 1, 1, 2, 2), reference.PoolParams{Kernel: []int{2, 2}, Pads: []int{1, 1, 0, 0}, CountIncludePad: true}),
			reference.FromData([]float64{0.25, 0.75, 1, 2.5}, 1, 1, 2, 2)},
		{"MatMul/batchBroadcast",
			reference.MatMul(seq(1, 2, 1, 2), seq(1, 2, 1)),
			reference.FromData([]float64{5, 11}, 2, 1, 1)},
		{"MatMul/vectors", reference.MatMul(seq(1, 3), seq(1, 3)), reference.Scalar(14)},
		{"Gemm/trans", reference.Gemm(seq(1, 2, 1), seq(1, 1, 2), reference.Scalar(1), 2, 3, true, true),
			reference.FromData([]float64{2*(1*1+2*2) + 3}, 1, 1)},
		{"Slice/onnxDoc", // ONNX Slice doc: slice (starts [1,0], ends [2,3], steps [1,2])
			reference.Slice(seq(1, 2, 4), []int{1, 0}, []int{2, 3}, []int{0, 1}, []int{1, 2}),
			reference.FromData([]float64{5, 7}, 1, 2)},
		{"Slice/negativeStepToStart",
			reference.Slice(seq(0, 5), []int{-1}, []int{math.MinInt64}, nil, []int{-2}),
			reference.FromData([]float64{4, 2, 0}, 3)},
		{"Slice/clampEnd",
			reference.Slice(seq(0, 5), []int{-3}, []int{math.MaxInt64}, nil, nil),
			reference.FromData([]float64{2, 3, 4}, 3)},
		{"Pad/reflect", // ONNX Pad doc: reflect_pad
			reference.Pad(reference.FromData([]float64{1, 1.2, 2.3, 3.4, 4.5, 5.7}, 3, 2), []int{0, 2, 0, 0}, "reflect", 0),
			reference.FromData([]float64{1, 1.2, 1, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7, 4.5, 5.7}, 3, 4)},
		{"Pad/edge", // ONNX Pad doc: edge_pad
			reference.Pad(reference.FromData([]float64{1, 1.2, 2.3, 3.4, 4.5, 5.7}, 3, 2), []int{0, 2, 0, 0}, "edge", 0),
			reference.FromData([]float64{1, 1, 1, 1.2, 2.3, 2.3, 2.3, 3.4, 4.5, 4.5, 4.5, 5.7}, 3, 4)},
		{"Pad/constantCrop",
			reference.Pad(seq(1, 3), []int{1, -1}, "constant", 9),
			reference.FromData([]float64{9, 1, 2}, 3)},
		{"Col2Im/onnxDoc", // ONNX Col2Im doc: col2im
			reference.Col2Im(reference.Transpose(seq(1, 1, 5, 5), 0, 2, 1), []int{5, 5}, []int{1, 5}, reference.ConvParams{}),
			seq(1, 1, 1, 5, 5)},
		{"ScatterElements/add",
			reference.ScatterElements(filled(0, 3), reference.FromData([]float64{0, 2, 0, -1}, 4), seq(1, 4), 0, "add"),
			reference.FromData([]float64{4, 0, 6}, 3)},
		{"GatherElements/axis1", // ONNX GatherElements doc: gather_elements_0
			reference.GatherElements(seq(1, 2, 2), reference.FromData([]float64{0, 0, 1, 0}, 2, 2), 1),
			reference.FromData([]float64{1, 1, 4, 3}, 2, 2)},
		{"Gather/axis1",
			reference.Gather(seq(0, 2, 3), reference.FromData([]float64{2, -3}, 2), 1),
			reference.FromData([]float64{2, 0, 5, 3}, 2, 2)},
		{"OneHot", reference.OneHot(reference.FromData([]float64{1, -1, 5}, 3), 3, 0, 2),
			reference.FromData([]float64{0, 2, 0, 0, 0, 2, 0, 0, 0}, 3, 3)},
		{"ArgMax/firstOfTies", reference.ArgMax(reference.FromData([]float64{1, 3, 3, 2, 2, 0}, 2, 3), 1, false),
			reference.FromData([]float64{1, 0}, 2)},
		{"ReduceSum/keepdims", reference.ReduceSum(seq(0, 2, 3), []int{-1}, true), reference.FromData([]float64{3, 12}, 2, 1)},
		{"ReduceMean/all", reference.ReduceMean(seq(0, 2, 3), nil, false), reference.Scalar(2.5)},
		{"Transpose/perm", reference.Transpose(seq(0, 2, 3), 1, 0), reference.FromData([]float64{0, 3, 1, 4, 2, 5}, 3, 2)},
		{"Tile", reference.Tile(seq(0, 2), 2), reference.FromData([]float64{0, 1, 0, 1}, 4)},
		{"Expand", reference.Expand(seq(0, 2, 1), []int{2}), reference.FromData([]float64{0, 0, 1, 1}, 2, 2)},
		{"Softmax", reference.Softmax(reference.FromData([]float64{0, math.Log(3)}, 2), 0), reference.FromData([]float64{0.25, 0.75}, 2)},
		{"LayerNorm", reference.LayerNorm(reference.FromData([]float64{1, 3}, 1, 2), filled(2, 2), filled(1, 2), -1, 0),
			reference.FromData([]float64{-1, 3}, 1, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := reference.Compare(tc.got, tc.want, 1e-12, 1e-12); err != nil {
				t.Error(err)
			}
		})
	}
}

func first(a, _ *reference.Tensor) *reference.Tensor  { return a }
func second(_, b *reference.Tensor) *reference.Tensor { return b }

// TestConvTransposeIsConvAdjoint checks ⟨Conv(x, w), y⟩ = ⟨x, ConvTranspose(y, w)⟩,
// which ties the two independently written loops together.
func TestConvTransposeIsConvAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		p    reference.ConvParams
		k    int
	}{
		{"3x3/stride1/pad1", reference.ConvParams{Pads: []int{1, 1, 1, 1}}, 3},
		{"3x3/stride2/pad1", reference.ConvParams{Strides: []int{2, 2}, Pads: []int{1, 1, 1, 1}, OutputPadding: []int{0, 0}}, 3},
		{"2x2/dilation2/groups2", reference.ConvParams{Dilations: []int{2, 2}, Group: 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := randn(r, 2, 4, 7, 7)
			w := randn(r, 6, 4/max(tc.p.Group, 1), tc.k, tc.k)
			y := reference.Conv(x, w, nil, tc.p)
			gy := randn(r, y.Shape...)
			p := tc.p
			// Pick the output padding that gives back x's size.
			want := reference.ConvTranspose(gy, w, nil, p)
			p.OutputPadding = []int{x.Shape[2] - want.Shape[2], x.Shape[3] - want.Shape[3]}
			gx := reference.ConvTranspose(gy, w, nil, p)
			if lhs, rhs := dot(y, gy), dot(x, gx); math.Abs(lhs-rhs) > 1e-9*math.Abs(lhs) {
				t.Errorf("⟨Conv(x), y⟩ = %v, ⟨x, ConvTranspose(y)⟩ = %v", lhs, rhs)
			}
		})
	}
}

func TestComparePanicsAndReports(t *testing.T) {
	a := reference.FromData([]float64{1, 2, math.NaN()}, 3)
	if err := reference.Compare(a, a.Clone(), 0, 0); err != nil {
		t.Errorf("a tensor differs from its copy: %v", err)
	}
	b := reference.FromData([]float64{1, 2.5, math.NaN()}, 3)
	if err := reference.Compare(b, a, 0.1, 0.1); err == nil {
		t.Error("Compare accepts 2.5 for 2 within 0.1 + 0.1·2")
	}
	if err := reference.Compare(reference.New(3, 1), reference.New(3), 1, 1); err == nil {
		t.Error("Compare accepts different shapes")
	}
	panicked := func(f func()) (p bool) {
		defer func() { p = recover() != nil }()
		f()
		return false
	}
	if !panicked(func() { reference.BroadcastShapes([]int{2, 3}, []int{4}) }) {
		t.Error("BroadcastShapes([2 3], [4]) does not panic")
	}
}
