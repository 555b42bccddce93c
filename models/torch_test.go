package models_test

import (
	"math"
	"math/rand/v2"
	"slices"
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
	st := newTorchStep(t, graphs.GraphSpec{Name: "step", Loss: losses.CrossEntropy})
	got := ortest.Run(t, st.g.Model, st.inputs()...)
	var want map[string][]float64
	torchtest.Run(t, torchtest.ResNet18TrainStep, st.torchInput(), &want)
	st.compare(t, got, want)
}

// TestPairTrainStepMatchesPyTorch runs the paired train steps of TRADES
// and MART (β = 6) on ResNet-18 as TestTrainStepMatchesPyTorch does, with
// adversarial examples x + U(−8/255, 8/255) beside the clean batch: the
// loss, every parameter's gradient and every running statistic agree with
// PyTorch's model called as trades_loss (clean, adversarial, clean) and
// mart_loss (clean, adversarial) call it. A pass too few or too many, or
// passes in another order, moves the running statistics far beyond the
// tolerance.
func TestPairTrainStepMatchesPyTorch(t *testing.T) {
	ortest.Init(t)
	for _, method := range []string{"trades", "mart"} { // robal: TestRoBalTrainStepMatchesPyTorch
		t.Run(method, func(t *testing.T) {
			head, err := losses.PairByName(method, losses.Options{TRADESBeta: 6, MARTBeta: 6})
			if err != nil {
				t.Fatal(err)
			}
			st := newTorchStep(t, graphs.GraphSpec{Name: method, Pair: head})
			rng := rand.New(rand.NewPCG(22, 2))
			xa := make([]float32, len(st.x))
			for i, v := range st.x {
				xa[i] = min(max(v+float32((2*rng.Float64()-1)*8/255), 0), 1)
			}
			in := st.inputs()
			in = append(in[:2:2], append([]ortest.Tensor{ortest.F32(xa, st.xshape...)}, in[2:]...)...)
			got := ortest.Run(t, st.g.Model, in...)
			a := st.torchInput()
			a["xa"], a["method"], a["beta"] = xa, method, 6
			var want map[string][]float64
			torchtest.Run(t, torchtest.ResNet18PairStep, a, &want)
			st.compare(t, got, want)
		})
	}
}

// TestRoBalTrainStepMatchesPyTorch runs RoBal's paired train step
// (RoBal-R's class-aware margins, β 6) on ResNet-18 with the cosine head
// (scale 1, γ 1/32) as TestPairTrainStepMatchesPyTorch does: the loss,
// every gradient and every running statistic agree with PyTorch's model
// called as add_reg_train calls it (adversarial, clean, clean,
// adversarial). A pass left out or reordered moves the running statistics
// beyond the tolerance.
func TestRoBalTrainStepMatchesPyTorch(t *testing.T) {
	ortest.Init(t)
	counts := []int{100, 77, 59, 46, 35, 27, 21, 16, 12, 10}
	o := losses.RoBalOpts{S: 10, M: 0.1, TauM: 0.3, TauB: 1.5, Beta: 6}
	head := models.Head{Kind: models.CosineHead, Scale: 1, Gamma: 1.0 / 32}
	net, err := models.ByName("resnet18", models.Options{Classes: 10, ImageSize: 28, Width: 1.0 / 8, Head: head})
	if err != nil {
		t.Fatal(err)
	}
	st := newTorchStep(t, graphs.GraphSpec{Name: "robal", Net: net, Pair: losses.RoBalHead(counts, o)})
	rng := rand.New(rand.NewPCG(22, 3))
	xa := make([]float32, len(st.x))
	for i, v := range st.x {
		xa[i] = min(v+float32(rng.Float64()*0.031), 1) // RoBal's one-sided start
	}
	in := st.inputs()
	in = append(in[:2:2], append([]ortest.Tensor{ortest.F32(xa, st.xshape...)}, in[2:]...)...)
	got := ortest.Run(t, st.g.Model, in...)
	a := st.torchInput()
	a["xa"], a["counts"] = xa, counts
	a["head"] = map[string]float64{"scale": head.Scale, "gamma": head.Gamma}
	a["robal"] = map[string]float32{"s": o.S, "m": o.M, "tau_m": o.TauM, "tau_b": o.TauB, "beta": o.Beta}
	var want map[string][]float64
	torchtest.Run(t, torchtest.ResNet18RoBalStep, a, &want)
	st.compare(t, got, want)
}

// torchStep is a ResNet-18 train step (1/8 width, 28×28 grey images, batch
// 16) with random parameters, running statistics away from their initial 0
// and 1, and a random batch, for comparing with PyTorch.
type torchStep struct {
	g      *graphs.Assembled
	values map[string][]float32
	shapes map[string][]int64
	x      []float32
	xshape []int64
	y      []int64
}

// newTorchStep assembles the train step of spec (its Name and Loss or
// Pair, and its Net or by default a 1/8-width ResNet-18; the batch and
// image are filled in) and draws its state.
func newTorchStep(t *testing.T, spec graphs.GraphSpec) *torchStep {
	const batch = 16
	image := []int64{1, 28, 28}
	if spec.Net == nil {
		net, err := models.ByName("resnet18", models.Options{Classes: 10, ImageSize: 28, Width: 1.0 / 8})
		if err != nil {
			t.Fatal(err)
		}
		spec.Net = net
	}
	spec.Batch, spec.Image = batch, image
	g, err := graphs.TrainStepGraph(spec)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(14, 1))
	st := &torchStep{g: g, values: graphs.InitParams(g.Params, 14), shapes: map[string][]int64{},
		x: make([]float32, batch*28*28), xshape: []int64{batch, 1, 28, 28}, y: make([]int64, batch)}
	for _, p := range g.Params {
		v := st.values[p.Name]
		for i := range v {
			switch {
			case strings.HasSuffix(p.Name, ".running_mean"):
				v[i] = float32(rng.NormFloat64() * 0.1)
			case strings.HasSuffix(p.Name, ".running_var"):
				v[i] = float32(0.5 + rng.Float64())
			}
		}
		st.shapes[p.Name] = p.Shape
	}
	for i := range st.x {
		st.x[i] = rng.Float32()
	}
	for i := range st.y {
		st.y[i] = int64(i % 10)
	}
	return st
}

// inputs returns the graph's inputs x, y and a copy of the state (a
// paired step's x_adv goes after y). The runtime may write a BatchNorm's
// updated running statistic into its input, a graph input of the first
// pass when several are chained, so the state PyTorch gets stays apart.
func (st *torchStep) inputs() []ortest.Tensor {
	in := []ortest.Tensor{ortest.F32(st.x, st.xshape...), ortest.I64(st.y, st.xshape[0])}
	for _, p := range st.g.Params {
		in = append(in, ortest.F32(slices.Clone(st.values[p.Name]), p.Shape...))
	}
	return in
}

// torchInput returns torchtest.ResNet18TrainStep's input.
func (st *torchStep) torchInput() map[string]any {
	return map[string]any{"state": st.values, "shapes": st.shapes, "x": st.x, "xshape": st.xshape, "y": st.y}
}

// compare checks the step's outputs got against PyTorch's want: the loss,
// every gradient and every updated running statistic.
func (st *torchStep) compare(t *testing.T, got []ortest.Tensor, want map[string][]float64) {
	t.Helper()
	// every parameter PyTorch's model.parameters() lists is a trainable
	// taet parameter with a gradient (train gives each SGD with weight
	// decay, BatchNorm weights and biases included, as
	// SGD(model.parameters(), weight_decay=5e-4) does), every buffer an
	// updated running statistic
	if len(want) != len(st.g.Outputs)-1 {
		t.Errorf("PyTorch has %d gradients, loss and buffers, taet %d", len(want), len(st.g.Outputs)-1)
	}
	runningVar := 0.0
	for i, o := range st.g.Outputs {
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
