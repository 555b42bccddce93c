package models_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx"
)

// TestCosineHead: a ResNet-18 with the cosine head (scale 3, γ 1/32) and
// the inference adjustment gives, for every image, s·(h/‖h‖)·(W/(‖W_k‖+γ))ᵀ
// computed in float64 from its declared features h and fc.weight, then
// a·z + b; fc has no bias, and the declared features are the pooled ones.
func TestCosineHead(t *testing.T) {
	ortest.Init(t)
	const batch, classes = 3, 4
	head := models.Head{Kind: models.CosineHead, Scale: 3, Gamma: 1.0 / 32}
	adj := &models.Adjust{Scale: 10, Bias: []float32{0.5, -1, 2, 0}}
	net := models.ResNet(models.ResNetOpts{Depth: 18, Classes: classes, Stem: models.CIFARStem, Width: 1.0 / 16, Head: head, Adjust: adj})
	params := evalParams(t, net, batch, 1, 16, 16).Params
	values := graphs.InitParams(params, 3)
	w, ok := values["fc.weight"]
	if !ok || values["fc.bias"] != nil {
		t.Fatalf("cosine head parameters: fc.weight %v, fc.bias %v: want the weight only", ok, values["fc.bias"] != nil)
	}
	m, err := graphs.Build("cosine", func(b *graphs.Builder) {
		x := b.Input("x", onnx.Float, batch, 1, 16, 16)
		z := net(graphs.NewInferVars(b, values), x)
		b.Output("logits", z)
		b.Output("features", graphs.Features(z))
	})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	x := make([]float32, batch*16*16)
	for i := range x {
		x[i] = rng.Float32()
	}
	got := ortest.Run(t, m, ortest.F32(x, batch, 1, 16, 16))
	z, h := got[0].F, got[1].F
	d := len(h) / batch
	if int64(d) != params[len(params)-1].Shape[1] {
		t.Fatalf("features have %d dims, fc.weight is %v", d, params[len(params)-1].Shape)
	}
	norm := func(v []float32) float64 {
		s := 0.0
		for _, e := range v {
			s += float64(e) * float64(e)
		}
		return math.Sqrt(s)
	}
	for i := range batch {
		hi := h[i*d : (i+1)*d]
		for k := range classes {
			wk := w[k*d : (k+1)*d]
			dot := 0.0
			for j := range d {
				dot += float64(hi[j]) * float64(wk[j])
			}
			cos := head.Scale * dot / norm(hi) / (norm(wk) + head.Gamma)
			want := float64(adj.Scale)*cos + float64(adj.Bias[k])
			if diff := math.Abs(float64(z[i*classes+k]) - want); diff > 1e-5*max(1, math.Abs(want)) {
				t.Errorf("logit [%d, %d]: %v, want %v", i, k, z[i*classes+k], want)
			}
		}
	}
}

func TestResNet18CosineTrainGrad(t *testing.T) {
	o := models.ResNetOpts{Depth: 18, Classes: 5, Stem: models.CIFARStem, Width: 1.0 / 16,
		Head: models.Head{Kind: models.CosineHead, Scale: 10, Gamma: 1.0 / 32}}
	checkTrainGrad(t, models.ResNet(models.SmoothResNet(o)), []int64{2, 3, 16, 16}, 1e-4, nil)
}

func TestHeadOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		model string
		o     models.Options
	}{
		{"unknown kind", "resnet18", models.Options{Head: models.Head{Kind: "arc"}}},
		{"zero scale", "resnet18", models.Options{Head: models.Head{Kind: models.CosineHead, Gamma: 0.1}}},
		{"negative gamma", "resnet18", models.Options{Head: models.Head{Kind: models.CosineHead, Scale: 1, Gamma: -1}}},
		{"vit cosine", "vit", models.Options{Head: models.Head{Kind: models.CosineHead, Scale: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Classes, tc.o.ImageSize = 10, 32
			if _, err := models.ByName(tc.model, tc.o); err == nil {
				t.Errorf("ByName(%s, %+v): no error", tc.model, tc.o)
			}
		})
	}
}
