package models_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/torchtest"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/models"
)

// TestTrainStepMatchesPyTorch runs taet's ResNet-18 train step (1/8 width,
// 28×28 grey images, batch 16, running statistics away from their initial
// 0 and 1) and PyTorch's on the same parameters and batch: the loss, every
// gradient and every updated BatchNorm running statistic agree. The running
// variance is the one ONNX and PyTorch define differently (biased vs
// unbiased batch variance); at layer4, n = 16·4·4 and the two differ by
// ×256/255 on the batch term, far above the tolerance. The loss is
// F.cross_entropy's mean reduction.
func TestTrainStepMatchesPyTorch(t *testing.T) {
	ortest.Init(t)
	const batch = 16
	image := []int64{1, 28, 28}
	net, err := models.ByName("resnet18", models.Options{Classes: 10, ImageSize: 28, Width: 1.0 / 8})
	if err != nil {
		t.Fatal(err)
	}
	g, err := graphs.TrainStepGraph(graphs.GraphSpec{Name: "step", Batch: batch, Image: image, Net: net, Loss: losses.CrossEntropy})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(14, 1))
	values := graphs.InitParams(g.Params, 14)
	state, shapes := map[string][]float32{}, map[string][]int64{}
	for _, p := range g.Params {
		v := values[p.Name]
		for i := range v {
			switch {
			case strings.HasSuffix(p.Name, ".running_mean"):
				v[i] = float32(rng.NormFloat64() * 0.1)
			case strings.HasSuffix(p.Name, ".running_var"):
				v[i] = float32(0.5 + rng.Float64())
			}
		}
		state[p.Name], shapes[p.Name] = v, p.Shape
	}
	x := make([]float32, batch*28*28)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := make([]int64, batch)
	for i := range y {
		y[i] = int64(i % 10)
	}
	inputs := []ortest.Tensor{ortest.F32(x, batch, 1, 28, 28), ortest.I64(y, batch)}
	for _, p := range g.Params {
		inputs = append(inputs, ortest.F32(values[p.Name], p.Shape...))
	}
	got := ortest.Run(t, g.Model, inputs...)

	var want map[string][]float64
	torchtest.Run(t, torchtest.ResNet18TrainStep, map[string]any{
		"state": state, "shapes": shapes, "x": x, "xshape": []int64{batch, 1, 28, 28}, "y": y,
	}, &want)
	// every parameter PyTorch's model.parameters() lists is a trainable
	// taet parameter with a gradient (train gives each SGD with weight
	// decay, BatchNorm weights and biases included, as
	// SGD(model.parameters(), weight_decay=5e-4) does), every buffer an
	// updated running statistic
	if len(want) != len(g.Outputs)-1 {
		t.Errorf("PyTorch has %d gradients, loss and buffers, taet %d", len(want), len(g.Outputs)-1)
	}
	runningVar := 0.0
	for i, o := range g.Outputs {
		if o.Name == "logits" {
			continue
		}
		w, ok := want[o.Name]
		if !ok || len(w) != len(got[i].F) {
			t.Fatalf("%s: PyTorch gave %d values, taet %d", o.Name, len(w), len(got[i].F))
		}
		scale, diff := 0.0, 0.0
		for j := range w {
			scale = max(scale, math.Abs(w[j]))
			diff = max(diff, math.Abs(float64(got[i].F[j])-w[j]))
		}
		if strings.HasSuffix(o.Name, ".running_var_updated") {
			runningVar = max(runningVar, diff)
		}
		// float32 rounding, summed over a layer's activations
		if diff > 1e-5*max(scale, 1e-2) {
			t.Errorf("%s: max |taet − PyTorch| %.3g (scale %.3g)", o.Name, diff, scale)
		}
	}
	t.Logf("max |Δ running_var| vs PyTorch: %.3g", runningVar)
}
