package ortoracle_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/torchtest"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/ortoracle"
)

// torchTRADESAttack runs, in PyTorch, the attack of the authors'
// trades_loss on a linear classifier from a given start point (their
// x + 0.001·N(0,1)): steps of α·sign(∇ KLDivLoss(size_average=False)(
// log_softmax(f(x')), softmax(f(x)))), each projected onto the ε-ball
// around x and clipped to [0, 1]. It prints the input gradient at a point
// "at" and the last iterate.
//
// stdin: {"w": [...], "b": [...], "k": K, "x": [...], "at": [...], "start": [...], "n": N, "eps": ε, "alpha": α, "steps": S}
const torchTRADESAttack = `
import json, sys, torch
import torch.nn.functional as F
a = json.load(sys.stdin)
n, k = a["n"], a["k"]
w = torch.tensor(a["w"], dtype=torch.float32).reshape(k, -1)
b = torch.tensor(a["b"], dtype=torch.float32)
model = lambda v: v.flatten(1) @ w.t() + b
x = torch.tensor(a["x"], dtype=torch.float32).reshape(n, -1)
divergence = torch.nn.KLDivLoss(reduction="sum")
def grad_at(v):
    v = v.detach().requires_grad_()
    loss = divergence(F.log_softmax(model(v), dim=1), F.softmax(model(x), dim=1))
    return torch.autograd.grad(loss, [v])[0]
out = {"grad": grad_at(torch.tensor(a["at"], dtype=torch.float32).reshape(n, -1)).flatten().tolist()}
adv = torch.tensor(a["start"], dtype=torch.float32).reshape(n, -1)
for _ in range(a["steps"]):
    adv = adv.detach() + a["alpha"] * torch.sign(grad_at(adv))
    adv = torch.min(torch.max(adv, x - a["eps"]), x + a["eps"]).clamp(0, 1)
out["adv"] = adv.flatten().tolist()
print(json.dumps(out))
`

// TestTRADESAttackMatchesPyTorch: the kl oracle's input gradient at a
// point of the ε-ball (at the start point, x + 0.001·N(0,1), the gradient
// is a difference of nearly equal softmaxes, float32 noise in both
// frameworks), with the clean logits as its reference, and PGD's last
// iterate after 10 steps of 0.007 within ε = 0.031 (TRADES's training
// attack) agree with PyTorch's transcription of the authors' attack on the
// same linear classifier and start. Before a reference is set the oracle
// refuses to give a gradient.
func TestTRADESAttackMatchesPyTorch(t *testing.T) {
	ortest.Init(t)
	rng := rand.New(rand.NewPCG(22, 3))
	w, b, x := make([]float32, k*d), make([]float32, k), make([]float32, batch*d)
	for _, s := range [][]float32{w, b, x} {
		for i := range s {
			s[i] = rng.Float32()
		}
	}
	for i := range w {
		w[i] = 4 * (w[i] - 0.5)
	}
	y := []int64{0, 3, 4, 1}
	seeds := []uint64{1, 2, 3, 4}
	pgd := attacks.PGD{Eps: 0.031, Alpha: 0.007, Steps: 10, Start: attacks.StartNormal}
	set := ortoracle.NewSet(linear, map[string][]float32{"fc.weight": w, "fc.bias": b}, image, batch, k, 0, ort.Options{Threads: 1})
	defer set.Close()
	o, err := set.Get("kl")
	if err != nil {
		t.Fatal(err)
	}
	ro, ok := o.(attacks.ReferenceOracle)
	if !ok {
		t.Fatalf("the kl oracle %T is not an attacks.ReferenceOracle", o)
	}
	start := pgd.StartPoint(x, seeds)
	at := make([]float32, len(x))
	for i := range at {
		at[i] = min(max(x[i]+float32(pgd.Eps*float64(2*rng.IntN(2)-1)), 0), 1)
	}
	logits, grad := make([]float32, batch*k), make([]float32, batch*d)
	if err := o.Eval(at, y, nil, logits, grad); err == nil {
		t.Error("the kl oracle gave a gradient before its reference was set")
	}
	if err := o.Eval(x, y, nil, logits, nil); err != nil {
		t.Fatal(err)
	}
	ro.SetReference(logits)
	if err := o.Eval(at, y, nil, logits, grad); err != nil {
		t.Fatal(err)
	}
	adv := make([]float32, len(x))
	if err := pgd.Perturb(o, x, y, seeds, adv); err != nil {
		t.Fatal(err)
	}
	var want struct{ Grad, Adv []float64 }
	torchtest.Run(t, torchTRADESAttack, map[string]any{"w": w, "b": b, "k": k, "x": x, "at": at, "start": start, "n": batch,
		"eps": pgd.Eps, "alpha": pgd.Alpha, "steps": pgd.Steps}, &want)
	scale := 0.0
	for _, v := range want.Grad {
		scale = max(scale, math.Abs(v))
	}
	for i, v := range want.Grad {
		if math.Abs(float64(grad[i])-v) > 1e-5*scale {
			t.Errorf("x_grad[%d]: taet %v, PyTorch %v", i, grad[i], v)
		}
	}
	for i, v := range want.Adv {
		if math.Abs(float64(adv[i])-v) > 1e-6 {
			t.Errorf("adv[%d]: taet %v, PyTorch %v (clean %v)", i, adv[i], v, x[i])
		}
	}
}
