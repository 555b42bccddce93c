package train

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx/ort"
)

// tinySpec is a 1/16-width CIFAR ResNet-18 on 4 images of 3×8×8: every kind
// of parameter (convolutions, BatchNorm with running statistics, the linear
// head) at a size that runs in milliseconds.
func tinySpec(t *testing.T) graphs.GraphSpec {
	t.Helper()
	net, err := models.ByName("resnet18", models.Options{Classes: 5, ImageSize: 8, Width: 1.0 / 16})
	if err != nil {
		t.Fatal(err)
	}
	return graphs.GraphSpec{Name: "tiny", Batch: 4, Image: []int64{3, 8, 8}, Net: net, Loss: losses.CrossEntropy}
}

// tinyBatches returns steps random batches of images in [0,1] and labels.
func tinyBatches(steps int) (xs [][]float32, ys [][]int64) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range steps {
		x := make([]float32, 4*3*8*8)
		for i := range x {
			x[i] = rng.Float32()
		}
		y := make([]int64, 4)
		for i := range y {
			y[i] = rng.Int64N(5)
		}
		xs, ys = append(xs, x), append(ys, y)
	}
	return xs, ys
}

// TestInGraphSGDMatchesGoSGD trains the same network for several steps two
// ways, the train-step graph followed by the Go update (sgdStep), and the
// graph with the update inside (TrainStepSGDGraph) run by a deviceStepper,
// its state kept in the CPU provider's device memory through I/O binding,
// and requires every parameter, momentum buffer and BatchNorm statistic to
// be bit-identical.
func TestInGraphSGDMatchesGoSGD(t *testing.T) {
	ortest.Init(t)
	const steps, momentum, wd = 4, 0.9, 5e-4
	lrs := []float32{0.1, 0.1, 0.05, 0.01}
	spec := tinySpec(t)
	xs, ys := tinyBatches(steps)
	opts := ort.Options{Threads: 1}

	// Go SGD after the gradient graph, as the fit loop does today.
	plain, err := graphs.TrainStepGraph(spec)
	if err != nil {
		t.Fatal(err)
	}
	info := plain.Params
	goParams := graphs.InitParams(info, 7)
	velocity := map[string][]float32{}
	for _, pi := range info {
		if pi.Trainable {
			velocity[pi.Name] = make([]float32, pi.Size())
		}
	}
	for s := range steps {
		in := []ortest.Tensor{ortest.F32(xs[s], 4, 3, 8, 8), ortest.I64(ys[s], 4)}
		for _, pi := range info {
			in = append(in, ortest.F32(goParams[pi.Name], pi.Shape...))
		}
		out := ortest.Run(t, plain.Model, in...)
		byName := map[string][]float32{}
		for i, name := range plain.OutputNames() {
			byName[name] = out[i].F
		}
		for _, pi := range info {
			if pi.Trainable {
				sgdStep(goParams[pi.Name], byName[pi.Name+"_grad"], velocity[pi.Name], lrs[s], momentum, wd)
			} else {
				copy(goParams[pi.Name], byName[pi.Name+"_updated"])
			}
		}
	}

	// The same steps with the update in the graph.
	fused, err := graphs.TrainStepSGDGraph(spec, momentum, wd)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(fused.Params, info, func(a, b graphs.ParamInfo) bool { return a.Name == b.Name }) {
		t.Fatal("the two graphs list different parameters")
	}
	dev, err := newDeviceStepper(fused, opts, graphs.InitParams(info, 7), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.close()
	initial, err := dev.values()
	if err != nil {
		t.Fatal(err)
	}
	if want := graphs.InitParams(info, 7); !slices.Equal(initial[info[0].Name], want[info[0].Name]) {
		t.Errorf("device stepper before a step: %s is not its initial value", info[0].Name)
	}
	for s := range steps {
		copy(dev.x.Data(), xs[s])
		copy(dev.y.Data(), ys[s])
		if _, err := dev.step(lrs[s], nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := dev.values()
	if err != nil {
		t.Fatal(err)
	}
	for _, pi := range info {
		if !slices.Equal(got[pi.Name], goParams[pi.Name]) {
			t.Errorf("%s differs after %d steps: in-graph %v…, Go %v…", pi.Name, steps, got[pi.Name][:2], goParams[pi.Name][:2])
		}
		if pi.Trainable && !slices.Equal(got[pi.Name+graphs.MomentumSuffix], velocity[pi.Name]) {
			t.Errorf("%s momentum buffer differs after %d steps", pi.Name, steps)
		}
	}
}
