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

// torchTrainStep builds torchvision's CIFAR-stem ResNet-18 (BasicBlock,
// conv1 3×3 stride 1, no max-pool) at the base width of the given state, in
// plain torch (Debian has no python3-torchvision), loads the state, runs one
// training-mode forward and backward pass of the mean cross-entropy and
// prints the loss, every gradient and every BatchNorm running statistic
// after the step (BatchNorm2d defaults: momentum 0.1, eps 1e-5).
//
// stdin: {"state": {name: [values]}, "shapes": {name: shape}, "x": [...], "xshape": [N,C,H,W], "y": [...]}
const torchTrainStep = `
import json, sys, torch
from torch import nn
torch.set_num_threads(1)
a = json.load(sys.stdin)
state = {k: torch.tensor(v, dtype=torch.float32).reshape(a["shapes"][k]) for k, v in a["state"].items()}

class Block(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o)
        self.conv2, self.bn2 = nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o)
        self.downsample = None
        if stride != 1 or i != o:
            self.downsample = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))
    def forward(self, x):
        h = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(h + (x if self.downsample is None else self.downsample(x)))

class ResNet18(nn.Module):
    def __init__(self, c, base, classes):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, base, 3, 1, 1, bias=False), nn.BatchNorm2d(base)
        i = base
        for l in range(4):
            o = base << l
            setattr(self, "layer%d" % (l + 1), nn.Sequential(Block(i, o, 1 if l == 0 else 2), Block(o, o, 1)))
            i = o
        self.fc = nn.Linear(i, classes)
    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))

w = state["conv1.weight"]
model = ResNet18(w.shape[1], w.shape[0], state["fc.bias"].numel())
missing, unexpected = model.load_state_dict(state, strict=False)
assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
model.train()
x = torch.tensor(a["x"], dtype=torch.float32).reshape(a["xshape"])
loss = nn.functional.cross_entropy(model(x), torch.tensor(a["y"]))
loss.backward()
out = {"loss": [loss.item()]}
for k, p in model.named_parameters():
    out[k + "_grad"] = p.grad.flatten().tolist()
for k, b in model.named_buffers():
    if not k.endswith("num_batches_tracked"):
        out[k + "_updated"] = b.flatten().tolist()
print(json.dumps(out))
`

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
	torchtest.Run(t, torchTrainStep, map[string]any{
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
