package ortoracle_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/ortoracle"
)

const batch, d, k = 4, 2 * 3 * 3, 5

var image = []int64{2, 3, 3}

// linear is logits = x·Wᵀ + b on flattened [N, 2, 3, 3] images.
func linear(v *graphs.Vars, x *graphs.Value) *graphs.Value {
	x = graphs.Flatten(x, 1)
	w := v.Param("fc.weight", []int64{k, d}, graphs.Const(0))
	b := v.Param("fc.bias", []int64{k}, graphs.Const(0))
	return graphs.Gemm(x, w, b, graphs.GemmOpts{TransB: true})
}

// TestSetCrossEntropy checks the "ce" oracle of a linear classifier against
// the closed forms: logits x·Wᵀ + b, and the input gradient of the summed
// cross-entropy, (softmax(z) − onehot(y))·W per row; a call without a
// gradient (the logits-only session) gives the same logits.
func TestSetCrossEntropy(t *testing.T) {
	ortest.Init(t)
	rng := rand.New(rand.NewPCG(1, 2))
	w, b := make([]float32, k*d), make([]float32, k)
	x := make([]float32, batch*d)
	for _, s := range [][]float32{w, b, x} {
		for i := range s {
			s[i] = rng.Float32() - 0.5
		}
	}
	y := []int64{0, 3, 4, 1}
	set := ortoracle.NewSet(linear, map[string][]float32{"fc.weight": w, "fc.bias": b}, image, batch, k, 0, ort.Options{Threads: 1})
	defer set.Close()
	o, err := set.Get("ce")
	if err != nil {
		t.Fatal(err)
	}
	logits, grad, plain := make([]float32, batch*k), make([]float32, batch*d), make([]float32, batch*k)
	if err := o.Eval(x, y, nil, logits, grad); err != nil {
		t.Fatal(err)
	}
	if err := o.Eval(x, y, nil, plain, nil); err != nil {
		t.Fatal(err)
	}
	for n := range batch {
		z := make([]float64, k)
		sum := 0.0
		for c := range k {
			z[c] = float64(b[c])
			for i := range d {
				z[c] += float64(x[n*d+i]) * float64(w[c*d+i])
			}
			sum += math.Exp(z[c])
			if diff := math.Abs(z[c] - float64(logits[n*k+c])); diff > 1e-5 {
				t.Errorf("logit [%d,%d] = %v, want %v", n, c, logits[n*k+c], z[c])
			}
			if plain[n*k+c] != logits[n*k+c] {
				t.Errorf("logits-only session: [%d,%d] = %v, gradient session %v", n, c, plain[n*k+c], logits[n*k+c])
			}
		}
		for i := range d {
			want := 0.0
			for c := range k {
				p := math.Exp(z[c]) / sum
				if int64(c) == y[n] {
					p--
				}
				want += p * float64(w[c*d+i])
			}
			if diff := math.Abs(want - float64(grad[n*d+i])); diff > 1e-5 {
				t.Errorf("x_grad [%d,%d] = %v, want %v", n, i, grad[n*d+i], want)
			}
		}
	}
	if _, err := set.Get("no-such-loss"); err == nil {
		t.Error("Get(no-such-loss): no error")
	}
}

// TestLogits runs an eval graph through the logits-only oracle of exported
// files: the same logits as the Set's, and an error when asked for a
// gradient.
func TestLogits(t *testing.T) {
	ortest.Init(t)
	values := map[string][]float32{"fc.weight": make([]float32, k*d), "fc.bias": {1, 2, 3, 4, 5}}
	for i := range values["fc.weight"] {
		values["fc.weight"][i] = float32(i%7) / 7
	}
	a, err := graphs.EvalGraph(graphs.GraphSpec{Name: "linear", Batch: batch, Image: image, Net: linear}, values)
	if err != nil {
		t.Fatal(err)
	}
	model, err := a.Model.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	lo, err := ortoracle.NewLogits(model, image, batch, k, ort.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer lo.Close()
	set := ortoracle.NewSet(linear, values, image, batch, k, 0, ort.Options{Threads: 1})
	defer set.Close()
	o, err := set.Get("ce")
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, batch*d)
	for i := range x {
		x[i] = float32(i%5) / 5
	}
	got, want := make([]float32, batch*k), make([]float32, batch*k)
	if err := lo.Eval(x, nil, nil, got, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Eval(x, make([]int64, batch), nil, want, nil); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Errorf("logit %d: %v from the file, %v from the set", i, got[i], want[i])
		}
	}
	if err := lo.Eval(x, nil, nil, got, make([]float32, batch*d)); err == nil {
		t.Error("a gradient from an exported file: no error")
	}
}
