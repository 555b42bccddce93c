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
			compareTorch(t, name+suffix, got[k].F, want[name+suffix])
		}
	}
	if math.Abs(want["hel/all-classes"][0]-want["hel/present-classes"][0]) < 1e-4 {
		t.Error("the two HEL variants agree on a batch with absent classes: the test cannot tell them apart")
	}
}

// torchPairLosses computes, in PyTorch, TRADES's and MART's training
// losses (torchtest.PairLosses, the KL's target of TRADES being the clean
// logits z) with their gradients with respect to the clean and the
// adversarial logits.
//
// stdin: {"z": [...], "za": [...], "n": N, "c": C, "y": [...], "beta": β}
const torchPairLosses = torchtest.PairLosses + `
import json, sys
a = json.load(sys.stdin)
n, c, beta = a["n"], a["c"], a["beta"]
y = torch.tensor(a["y"])
out = {}
for name, f in [("trades", lambda z, za: trades(z, za, z, y, beta)), ("mart", lambda z, za: mart(z, za, y, beta))]:
    z = torch.tensor(a["z"], dtype=torch.float32).reshape(n, c).requires_grad_()
    za = torch.tensor(a["za"], dtype=torch.float32).reshape(n, c).requires_grad_()
    loss = f(z, za)
    loss.backward()
    out[name] = [loss.item()]
    out[name + "_grad_clean"] = z.grad.flatten().tolist()
    out[name + "_grad_adv"] = za.grad.flatten().tolist()
print(json.dumps(out))
`

// TestPairLossesMatchPyTorch: TRADES and MART agree with PyTorch
// transcriptions of the authors' functions, value and gradient with respect
// to the clean and the adversarial logits, at β = 6 on a batch in which
// classes 3 and 7 are absent. The adversarial logits are the clean ones
// moved by noise, as a few PGD steps move them.
func TestPairLossesMatchPyTorch(t *testing.T) {
	ortest.Init(t)
	const c, beta = 10, 6
	y := []int64{0, 0, 1, 1, 1, 2, 4, 4, 5, 6, 6, 8, 8, 8, 9, 9}
	n := int64(len(y))
	rng := rand.New(rand.NewPCG(22, 1))
	z, za := make([]float32, n*c), make([]float32, n*c)
	for i := range z {
		z[i] = float32(2 * rng.NormFloat64())
		za[i] = z[i] + float32(rng.NormFloat64())
	}
	var want map[string][]float64
	torchtest.Run(t, torchPairLosses, map[string]any{"z": z, "za": za, "n": n, "c": c, "y": y, "beta": beta}, &want)
	for _, name := range []string{"trades", "mart"} { // robal: TestRoBalREATMatchPyTorch
		head, err := losses.PairByName(name, losses.Options{TRADESBeta: beta, MARTBeta: beta})
		if err != nil {
			t.Fatal(err)
		}
		m, err := graphs.Build("torch-"+name, func(b *graphs.Builder) {
			clean, adv := b.Input("clean", onnx.Float, n, c), b.Input("adv", onnx.Float, n, c)
			loss := head.Loss(clean, adv, b.Input("y", onnx.Int64, n))
			grads := graphs.Grad(loss, []*graphs.Value{clean, adv})
			b.Output("loss", graphs.Reshape(loss, 1))
			b.Output("grad_clean", grads[0])
			b.Output("grad_adv", grads[1])
		})
		if err != nil {
			t.Fatal(err)
		}
		got := ortest.Run(t, m, ortest.F32(z, n, c), ortest.F32(za, n, c), ortest.I64(y, n))
		for k, suffix := range []string{"", "_grad_clean", "_grad_adv"} {
			compareTorch(t, name+suffix, got[k].F, want[name+suffix])
		}
	}
}

// compareTorch fails t for every element of got more than 1e-5 of the
// largest |want| away from want.
func compareTorch(t *testing.T, name string, got []float32, want []float64) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: PyTorch gave %d values, taet %d", name, len(want), len(got))
	}
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	for i, v := range want {
		if d := math.Abs(float64(got[i]) - v); d > 1e-5*scale {
			t.Errorf("%s[%d]: taet %v, PyTorch %v", name, i, got[i], v)
		}
	}
}
