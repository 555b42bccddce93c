package losses_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/torchtest"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/onnx"
)

// torchLosses computes, in PyTorch, F.cross_entropy (mean reduction) and
// HEL as the authors' code writes it (per-class mean loss with the 1e-10
// guards, nothing detached; "all" averages over all C classes, an absent
// class counting 0, "present" over the classes in the batch, the paper's
// text), each with its gradient with respect to the logits.
//
// stdin: {"z": [...], "n": N, "c": C, "y": [...], "alpha": α, "beta": β, "gamma": γ}
const torchLosses = `
import json, sys, torch
import torch.nn.functional as F
a = json.load(sys.stdin)
y = torch.tensor(a["y"])
def hel(z, present_only):
    ce = F.cross_entropy(z, y, reduction="none")
    per_class = []
    for c in range(a["c"]):
        mask = (y == c).float()
        if present_only and mask.sum() == 0:
            continue
        per_class.append((ce * mask).sum() / (mask.sum() + 1e-10))
    L = torch.stack(per_class)
    m = L.mean()
    hdl = ((L - m) ** 2).mean()
    rcel = ((L / (L.sum() + 1e-10)) ** 2).sum()
    return a["alpha"] * m + a["beta"] * hdl + a["gamma"] * rcel
out = {}
for name, f in [("ce", lambda z: F.cross_entropy(z, y)), ("hel/all-classes", lambda z: hel(z, False)),
                ("hel/present-classes", lambda z: hel(z, True))]:
    z = torch.tensor(a["z"], dtype=torch.float32).reshape(a["n"], a["c"]).requires_grad_()
    loss = f(z)
    loss.backward()
    out[name] = [loss.item()]
    out[name + "_grad"] = z.grad.flatten().tolist()
print(json.dumps(out))
`

// TestLossesMatchPyTorch: CE (mean over the batch) and HEL in both variants
// agree with PyTorch, value and gradient with respect to the logits, on a
// batch in which classes 3 and 7 are absent (the variants differ there) and
// class 5 has a single sample.
func TestLossesMatchPyTorch(t *testing.T) {
	ortest.Init(t)
	const c = 10
	y := []int64{0, 0, 1, 1, 1, 2, 4, 4, 5, 6, 6, 8, 8, 8, 9, 9}
	n := int64(len(y))
	rng := rand.New(rand.NewPCG(14, 3))
	z := make([]float32, n*c)
	for i := range z {
		z[i] = float32(2 * rng.NormFloat64())
	}
	o := losses.HELOpts{Alpha: 0.1, Beta: 0.1, Gamma: 0.1}
	heads := map[string]func(z, y *graphs.Value) *graphs.Value{
		"ce":                  losses.CrossEntropy,
		"hel/all-classes":     losses.HELHead(o),
		"hel/present-classes": losses.HELHead(losses.HELOpts{Alpha: o.Alpha, Beta: o.Beta, Gamma: o.Gamma, Variant: losses.PresentClasses}),
	}
	var want map[string][]float64
	torchtest.Run(t, torchLosses, map[string]any{"z": z, "n": n, "c": c, "y": y, "alpha": o.Alpha, "beta": o.Beta, "gamma": o.Gamma}, &want)
	for name, head := range heads {
		m, err := graphs.Build("torch-"+name, func(b *graphs.Builder) {
			zv := b.Input("logits", onnx.Float, n, c)
			loss := head(zv, b.Input("y", onnx.Int64, n))
			b.Output("loss", graphs.Reshape(loss, 1))
			b.Output("grad", graphs.Grad(loss, []*graphs.Value{zv})[0])
		})
		if err != nil {
			t.Fatal(err)
		}
		got := ortest.Run(t, m, ortest.F32(z, n, c), ortest.I64(y, n))
		for k, suffix := range []string{"", "_grad"} {
			compareTorch(t, name+suffix, got[k].F, want[name+suffix], 1e-5)
		}
	}
	if math.Abs(want["hel/all-classes"][0]-want["hel/present-classes"][0]) < 1e-4 {
		t.Error("the two HEL variants agree on a batch with absent classes: the test cannot tell them apart")
	}
}
