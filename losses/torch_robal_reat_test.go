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

// torchRoBalREAT transcribes into PyTorch the official RoBal loss
// (torchtest.RoBalLoss, methods/losses_inclass.py's MultiMarginLoss), its
// add_reg_train TRADES term, RoBal's evaluation-time PostProc classifier on the
// cosine logits (×s, − τ_p·log prior) and REAT's tail-feature alignment
// (loss_functions.REAT: a loop over the tail anchors, nn.KLDivLoss built
// with the legacy size_average='none', which PyTorch reads as a true
// size_average and so as reduction 'mean' over all N·D elements, the
// anchor's softmax detached, times the sign and weight vectors, then
// .mean() and / counter). Each value comes with its gradient with respect
// to the logits z or the features f.
//
// stdin: {"z", "f": [...], "n", "c", "d": dims, "y": labels, "counts": training counts,
//
//	"configs": {name: {"s", "m", "tau_m", "tau_b", "tau_p"}}}
const torchRoBalREAT = torchtest.RoBalLoss + `
import json, sys, warnings
warnings.simplefilter("ignore")
a = json.load(sys.stdin)
N, C, D = a["n"], a["c"], a["d"]
y = torch.tensor(a["y"])
spc = torch.tensor(a["counts"], dtype=torch.float32)
prior = spc / spc.sum()

def robal(z, o):
    return robal_margin(z, y, spc, o)

def tail(f):
    weights = torch.sqrt(1. / prior)
    tails = list(range(C // 3 * 2 + 1, C))
    kl = torch.nn.KLDivLoss(size_average='none')
    total, counter = 0.0, 0
    for i in range(N):
        if y[i].item() not in tails:
            continue
        sign = torch.tensor([-1. if y[i] == y[j] else 1. for j in range(N)])
        w = torch.stack([weights[y[i]] + weights[y[j]] for j in range(N)])
        anchor = F.softmax(f[i].detach().view(1, -1).repeat(N, 1), 1)
        total = total + kl(F.log_softmax(f, 1), anchor) * sign * w
        counter += 1
    return total.mean() / counter if counter > 0 else f.sum() * 0

out = {}
def record(name, fn, src, shape):
    v = torch.tensor(a[src], dtype=torch.float32).reshape(shape).requires_grad_()
    loss = fn(v)
    loss.backward()
    out[name] = [loss.item()]
    out[name + "_grad"] = v.grad.flatten().tolist()
for name, o in a["configs"].items():
    record("robal/" + name, lambda z: robal(z, o), "z", (N, C))
    # add_reg_train with reg_opt trades: the margin loss on the adversarial
    # logits plus beta_reg * KLDivLoss(sum)(log(adv_probs + 1e-12), nat_probs) / N
    zc = torch.tensor(a["zc"], dtype=torch.float32).reshape(N, C).requires_grad_()
    za = torch.tensor(a["z"], dtype=torch.float32).reshape(N, C).requires_grad_()
    kl = torch.nn.KLDivLoss(reduction="sum")
    loss = robal(za, o) + (1.0 / N) * kl(torch.log(F.softmax(za, 1) + 1e-12), F.softmax(zc, 1)) * o["beta"]
    loss.backward()
    out["robal-trades/" + name] = [loss.item()]
    out["robal-trades/" + name + "_grad_clean"] = zc.grad.flatten().tolist()
    out["robal-trades/" + name + "_grad_adv"] = za.grad.flatten().tolist()
    z = torch.tensor(a["z"], dtype=torch.float32).reshape(N, C)
    out["adjust/" + name] = (z * o["s"] - o["tau_p"] * torch.log(prior)).flatten().tolist()
record("tail", tail, "f", (N, D))
# loss_functions.REAT's training loss: BSL (logits + log counts, mean CE) + TAIL
zr = torch.tensor(a["z"], dtype=torch.float32).reshape(N, C).requires_grad_()
fr = torch.tensor(a["f"], dtype=torch.float32).reshape(N, D).requires_grad_()
loss = F.cross_entropy(zr + spc.log().unsqueeze(0), y) + tail(fr)
loss.backward()
out["reat"], out["reat_grad_z"], out["reat_grad_f"] = [loss.item()], zr.grad.flatten().tolist(), fr.grad.flatten().tolist()
print(json.dumps(out))
`

// TestRoBalREATMatchPyTorch: RoBal's margin loss (the official RoBal-N
// setting and RoBal-R's class-aware margins), its full loss with the
// TRADES term, its inference adjustment, REAT's tail-feature alignment and
// REAT's whole loss agree with the PyTorch transcription of
// the official code, value and gradient, on a batch in which classes 3
// and 7 (a tail class) are absent, class 5 has one sample and the tail
// classes 8 and 9 are present.
func TestRoBalREATMatchPyTorch(t *testing.T) {
	ortest.Init(t)
	const c, d = 10, 6
	y := []int64{0, 0, 1, 1, 1, 2, 4, 4, 5, 6, 6, 8, 8, 8, 9, 9}
	counts := []int{5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50}
	n := int64(len(y))
	rng := rand.New(rand.NewPCG(22, 2))
	z := make([]float32, n*c) // cosine logits in [−1, 1]
	for i := range z {
		z[i] = float32(2*rng.Float64() - 1)
	}
	f := make([]float32, n*d) // post-ReLU pooled features
	for i := range f {
		f[i] = float32(max(0, 2*rng.NormFloat64()+0.5))
	}
	robalR := losses.RoBalOpts{S: 10, M: 0.1, TauM: 0.3, TauB: 1.5, TauP: 1.7, Beta: 6}
	zc := make([]float32, n*c) // clean cosine logits, near the adversarial ones
	for i := range zc {
		zc[i] = z[i] + float32(0.3*rng.NormFloat64())
	}
	configs := map[string]losses.RoBalOpts{"N": losses.RoBalN, "R": robalR}
	torchConfigs := map[string]map[string]float32{}
	for name, o := range configs {
		torchConfigs[name] = map[string]float32{"s": o.S, "m": o.M, "tau_m": o.TauM, "tau_b": o.TauB, "tau_p": o.TauP, "beta": o.Beta}
	}
	var want map[string][]float64
	torchtest.Run(t, torchRoBalREAT, map[string]any{"z": z, "zc": zc, "f": f, "n": n, "c": c, "d": d, "y": y,
		"counts": counts, "configs": torchConfigs}, &want)

	type check struct {
		name  string
		in    []float32
		width int64
		loss  func(v, y *graphs.Value) *graphs.Value
	}
	checks := []check{{"tail", f, d, func(v, y *graphs.Value) *graphs.Value { return losses.TailAlignment(v, y, counts) }}}
	for name, o := range configs {
		checks = append(checks, check{"robal/" + name, z, c, losses.RoBalMarginHead(counts, o)})
	}
	for _, ck := range checks {
		m, err := graphs.Build("torch-"+ck.name, func(b *graphs.Builder) {
			v := b.Input("v", onnx.Float, n, ck.width)
			loss := ck.loss(v, b.Input("y", onnx.Int64, n))
			b.Output("loss", graphs.Reshape(loss, 1))
			b.Output("grad", graphs.Grad(loss, []*graphs.Value{v})[0])
		})
		if err != nil {
			t.Fatal(err)
		}
		got := ortest.Run(t, m, ortest.F32(ck.in, n, ck.width), ortest.I64(y, n))
		for k, suffix := range []string{"", "_grad"} {
			compareTorch(t, ck.name+suffix, got[k].F, want[ck.name+suffix])
		}
	}
	for name, o := range configs {
		head := losses.RoBalHead(counts, o)
		m, err := graphs.Build("torch-robal-trades", func(b *graphs.Builder) {
			zcv, zav := b.Input("clean", onnx.Float, n, c), b.Input("adv", onnx.Float, n, c)
			loss := head.Loss(zcv, zav, b.Input("y", onnx.Int64, n))
			b.Output("loss", graphs.Reshape(loss, 1))
			g := graphs.Grad(loss, []*graphs.Value{zcv, zav})
			b.Output("grad_clean", g[0])
			b.Output("grad_adv", g[1])
		})
		if err != nil {
			t.Fatal(err)
		}
		res := ortest.Run(t, m, ortest.F32(zc, n, c), ortest.F32(z, n, c), ortest.I64(y, n))
		for k, suffix := range []string{"", "_grad_clean", "_grad_adv"} {
			compareTorch(t, "robal-trades/"+name+suffix, res[k].F, want["robal-trades/"+name+suffix])
		}
		scale, bias := losses.RoBalAdjustment(counts, o)
		got := make([]float32, len(z))
		for i, v := range z {
			got[i] = scale*v + bias[i%c]
		}
		compareTorch(t, "adjust/"+name, got, want["adjust/"+name])
	}
	m, err := graphs.Build("torch-reat", func(b *graphs.Builder) {
		zv, fv := b.Input("z", onnx.Float, n, c), b.Input("f", onnx.Float, n, d)
		loss := losses.REAT(fv, zv, b.Input("y", onnx.Int64, n), counts, losses.REATOpts{Tail: 1})
		b.Output("loss", graphs.Reshape(loss, 1))
		g := graphs.Grad(loss, []*graphs.Value{zv, fv})
		b.Output("grad_z", g[0])
		b.Output("grad_f", g[1])
	})
	if err != nil {
		t.Fatal(err)
	}
	res := ortest.Run(t, m, ortest.F32(z, n, c), ortest.F32(f, n, d), ortest.I64(y, n))
	for k, suffix := range []string{"", "_grad_z", "_grad_f"} {
		compareTorch(t, "reat"+suffix, res[k].F, want["reat"+suffix])
	}
	if math.Abs(want["robal/N"][0]-want["robal/R"][0]) < 1e-3 {
		t.Error("RoBal-N and RoBal-R agree: the test cannot tell the class-aware margin from the uniform one")
	}
}
