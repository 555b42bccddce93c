package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/taet-ml/taet/internal/torchtest"
)

// torchSGD runs torch.optim.SGD (lr, momentum, weight_decay as given;
// dampening 0 and nesterov off are its defaults, which the authors keep)
// on one parameter for the given gradients and prints the parameter and
// the momentum buffer after every step.
//
// stdin: {"theta": [...], "grads": [[...], ...], "lr": [per step], "momentum": μ, "wd": λ}
const torchSGD = `
import json, sys, torch
a = json.load(sys.stdin)
p = torch.nn.Parameter(torch.tensor(a["theta"], dtype=torch.float32))
opt = torch.optim.SGD([p], lr=a["lr"][0], momentum=a["momentum"], weight_decay=a["wd"])
out = {"theta": [], "buf": []}
for g, lr in zip(a["grads"], a["lr"]):
    opt.param_groups[0]["lr"] = lr
    p.grad = torch.tensor(g, dtype=torch.float32)
    opt.step()
    out["theta"].append(p.detach().tolist())
    out["buf"].append(opt.state[p]["momentum_buffer"].tolist())
print(json.dumps(out))
`

// TestSGDMatchesPyTorch: three steps of sgdStep (the last at a tenth of the
// learning rate, as after a milestone) agree with torch.optim.SGD to float32
// rounding, the first step's momentum buffer included (PyTorch sets it to
// g + λ·θ, no dampening).
func TestSGDMatchesPyTorch(t *testing.T) {
	const n, momentum, wd = 64, 0.9, 5e-4
	rng := rand.New(rand.NewPCG(14, 2))
	theta := make([]float32, n)
	for i := range theta {
		theta[i] = float32(rng.NormFloat64())
	}
	lrs := []float32{0.1, 0.1, 0.01}
	grads := make([][]float32, len(lrs))
	for s := range grads {
		grads[s] = make([]float32, n)
		for i := range grads[s] {
			grads[s][i] = float32(rng.NormFloat64() * 0.1)
		}
	}
	var want struct{ Theta, Buf [][]float64 }
	torchtest.Run(t, torchSGD, map[string]any{"theta": theta, "grads": grads, "lr": lrs, "momentum": momentum, "wd": wd}, &want)
	velocity := make([]float32, n)
	for s, g := range grads {
		sgdStep(theta, g, velocity, lrs[s], momentum, wd)
		for i := range theta {
			if d := math.Abs(float64(theta[i]) - want.Theta[s][i]); d > 1e-6*max(1, math.Abs(want.Theta[s][i])) {
				t.Fatalf("step %d: θ[%d] = %v, PyTorch %v", s, i, theta[i], want.Theta[s][i])
			}
			if d := math.Abs(float64(velocity[i]) - want.Buf[s][i]); d > 1e-6*max(1, math.Abs(want.Buf[s][i])) {
				t.Fatalf("step %d: momentum buffer[%d] = %v, PyTorch %v", s, i, velocity[i], want.Buf[s][i])
			}
		}
	}
}
