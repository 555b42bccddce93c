package checkpoint_test

import (
	"math"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/internal/torchtest"
)

// torchMultiStepLR prints the learning rate of each of the given number of
// epochs under torch.optim.lr_scheduler.MultiStepLR, stepped once per epoch
// after the epoch's training, as the authors' loop does.
//
// stdin: {"lr": lr, "milestones": [...], "gamma": γ, "epochs": n}
const torchMultiStepLR = `
import json, sys, torch
a = json.load(sys.stdin)
opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=a["lr"], momentum=0.9)
sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=a["milestones"], gamma=a["gamma"])
lrs = []
for epoch in range(a["epochs"]):
    lrs.append(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
print(json.dumps(lrs))
`

// TestLRAtMatchesMultiStepLR: Optimizer.LRAt over the taet preset's 100
// epochs (0.1, ×0.1 at epochs 75 and 90) is PyTorch's MultiStepLR: epoch 74
// still trains at 0.1, epoch 75 at 0.01, epoch 90 at 0.001.
func TestLRAtMatchesMultiStepLR(t *testing.T) {
	o := checkpoint.Optimizer{LR: 0.1, Momentum: 0.9, WeightDecay: 5e-4, Milestones: []int{75, 90}, Gamma: 0.1}
	var want []float64
	torchtest.Run(t, torchMultiStepLR, map[string]any{"lr": o.LR, "milestones": o.Milestones, "gamma": o.Gamma, "epochs": 100}, &want)
	if len(want) != 100 {
		t.Fatalf("PyTorch gave %d epochs, want 100", len(want))
	}
	for e, w := range want {
		if got := o.LRAt(e); math.Abs(got-w) > 1e-12*w {
			t.Errorf("epoch %d: LRAt %g, MultiStepLR %g", e, got, w)
		}
	}
	for e, w := range map[int]float64{74: 0.1, 75: 0.01, 89: 0.01, 90: 0.001, 99: 0.001} {
		if math.Abs(want[e]-w) > 1e-12 {
			t.Errorf("epoch %d: MultiStepLR %g, want %g (the boundary moved)", e, want[e], w)
		}
	}
}
