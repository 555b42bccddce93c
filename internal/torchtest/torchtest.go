// Package torchtest runs a short PyTorch script for a test that compares
// taet with the authors' framework: the test's inputs go to the script as
// JSON on stdin, the script prints its results as JSON on stdout.
//
// PyTorch is Debian's python3-torch (make test-deps installs it). Without it the
// test skips on a developer's machine and fails in CI (package testenv).
package torchtest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/taet-ml/taet/internal/testenv"
)

// Python is Debian's python3, which python3-torch installs into.
const Python = "/usr/bin/python3"

// Run runs script with Python after checking that torch imports, passing
// in as JSON on stdin, and decodes the JSON the script prints into out.
// float32 values survive the round trip exactly: Go writes the shortest
// decimal that reads back as the same float32, Python's tolist() writes
// float32 tensors as the doubles they equal.
func Run(t testing.TB, script string, in, out any) {
	t.Helper()
	if err := exec.Command(Python, "-c", "import torch").Run(); err != nil {
		testenv.Missing(t, "needs PyTorch: apt-get install python3-torch (%v)", err)
	}
	stdin, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Python, "-c", script)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("PyTorch script: %v\n%s", err, stderr.Bytes())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("PyTorch script printed %q: %v", stdout.Bytes(), err)
	}
}

// ResNet18TrainStep builds torchvision's CIFAR-stem ResNet-18 (BasicBlock,
// conv1 3×3 stride 1, no max-pool) at the base width of the given state, in
// plain torch (Debian has no python3-torchvision), loads the state, runs one
// training-mode forward and backward pass of the mean cross-entropy and
// prints the loss, every gradient and every BatchNorm running statistic
// after the step (BatchNorm2d defaults: momentum 0.1, eps 1e-5).
//
// stdin: {"state": {name: [values]}, "shapes": {name: shape}, "x": [...], "xshape": [N,C,H,W], "y": [...]}
const ResNet18TrainStep = resNet18 + `
loss = nn.functional.cross_entropy(model(x), y)
` + stepOutputs

// ResNet18PairStep is ResNet18TrainStep for the paired losses: one training
// step of TRADES or MART on the clean batch x and its adversarial examples
// xa, calling the model as the authors' trades_loss (clean, adversarial,
// clean: three updates of the running statistics) and mart_loss (clean,
// adversarial) do, with the losses of PairLosses.
//
// stdin: ResNet18TrainStep's, and {"xa": [...], "method": "trades" | "mart", "beta": β}
const ResNet18PairStep = resNet18 + PairLosses + `
xa = torch.tensor(a["xa"], dtype=torch.float32).reshape(a["xshape"])
if a["method"] == "trades":
    z = model(x)
    za = model(xa)
    loss = trades(z, za, model(x), y, a["beta"])
else:
    z = model(x)
    za = model(xa)
    loss = mart(z, za, y, a["beta"])
` + stepOutputs

// ResNet18RoBalStep is ResNet18TrainStep for RoBal (stdin's "head" makes
// fc the cosine classifier): one training step on x and its adversarial
// examples xa as the authors' add_reg_train runs it with reg_opt trades,
// beta_adv 1, beta_nat 0: the margin loss of model(xa), plus 0 × the
// cross-entropy of model(x) (its nat_loss is a module, never None), plus
// beta_reg × KLDivLoss(sum)(log(softmax(model(xa)) + 1e-12),
// softmax(model(x))) / N: four passes, four updates of the running
// statistics.
//
// stdin: ResNet18TrainStep's, and {"xa": [...], "head": {...}, "counts": training counts, "robal": {"s", "m", "tau_m", "tau_b", "beta"}}
const ResNet18RoBalStep = resNet18 + RoBalLoss + `
xa = torch.tensor(a["xa"], dtype=torch.float32).reshape(a["xshape"])
o, spc = a["robal"], torch.tensor(a["counts"], dtype=torch.float32)
loss = robal_margin(model(xa), y, spc, o)
loss = loss + F.cross_entropy(model(x), y) * 0.0
nat, adv = F.softmax(model(x), dim=1), F.softmax(model(xa), dim=1)
loss = loss + (1.0 / len(y)) * torch.nn.KLDivLoss(reduction="sum")(torch.log(adv + 1e-12), nat) * o["beta"]
` + stepOutputs

// RoBalLoss defines, in Python, RoBal's MultiMarginLoss as the authors'
// losses_inclass.py computes it (transcribed from its formula):
// robal_margin(z, y, spc, o) with spc the training counts and o holding
// s, m, tau_m and tau_b: the margin m + tau_m·log(n_c / min n)/s off the
// target logit, then ×s and + tau_b·log prior, mean cross-entropy.
const RoBalLoss = `
import torch
import torch.nn.functional as F
def robal_margin(z, y, spc, o):
    margins = o["tau_m"] * torch.log(spc / spc.min()) / o["s"] + o["m"]
    target = F.one_hot(y, z.shape[1]).bool()
    u = torch.where(target, z - margins[y].view(-1, 1), z)
    return F.cross_entropy(u * o["s"] + o["tau_b"] * torch.log(spc / spc.sum()), y)
`

// PairLosses defines, in Python, TRADES's and MART's training losses as
// the authors' trades_loss and mart_loss compute them from the model's
// outputs (transcribed from their formulas): trades(z, za, z_kl, y, beta),
// where z_kl is the clean pass whose softmax is the KL's target (a third
// call of the model in trades_loss), and mart(z, za, y, beta). Nothing is
// detached but MART's wrong-class index.
const PairLosses = `
import torch
import torch.nn.functional as F
def trades(z, za, z_kl, y, beta):
    divergence = torch.nn.KLDivLoss(reduction="sum")(F.log_softmax(za, dim=1), F.softmax(z_kl, dim=1))
    return F.cross_entropy(z, y) + beta * divergence / len(y)
def mart(z, za, y, beta):
    q = F.softmax(za, dim=1)
    order = torch.argsort(q, dim=1)
    wrong = torch.where(order[:, -1] == y, order[:, -2], order[:, -1])
    boosted = F.cross_entropy(za, y) + F.nll_loss(torch.log(1.0001 - q + 1e-12), wrong)
    p = F.softmax(z, dim=1)
    p_true = p.gather(1, y.unsqueeze(1)).squeeze(1)
    divergence = torch.nn.KLDivLoss(reduction="none")(torch.log(q + 1e-12), p).sum(dim=1)
    return boosted + beta * (divergence * (1.0000001 - p_true)).sum() / len(y)
`

// resNet18 is the start of the ResNet-18 step scripts: the model with the
// state loaded, in train mode, and the batch x, y. With "head": {"scale",
// "gamma"} in the input, fc is RoBal's cosine classifier (no bias).
const resNet18 = `
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

class Cosine(nn.Module):
    # RoBal's CosPlus classifier with its bias off: scale·(h/|h|)·(W/(|W_k| + gamma))ᵀ
    def __init__(self, i, classes, scale, gamma):
        super().__init__()
        self.weight, self.scale, self.gamma = nn.Parameter(torch.empty(classes, i)), scale, gamma
    def forward(self, h):
        ex = h / torch.norm(h, 2, 1, keepdim=True)
        ew = self.weight / (torch.norm(self.weight, 2, 1, keepdim=True) + self.gamma)
        return self.scale * torch.mm(ex, ew.t())

class ResNet18(nn.Module):
    def __init__(self, c, base, classes, head=None):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, base, 3, 1, 1, bias=False), nn.BatchNorm2d(base)
        i = base
        for l in range(4):
            o = base << l
            setattr(self, "layer%d" % (l + 1), nn.Sequential(Block(i, o, 1 if l == 0 else 2), Block(o, o, 1)))
            i = o
        self.fc = nn.Linear(i, classes) if head is None else Cosine(i, classes, **head)
    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))

w = state["conv1.weight"]
model = ResNet18(w.shape[1], w.shape[0], state["fc.weight"].shape[0], a.get("head"))
missing, unexpected = model.load_state_dict(state, strict=False)
assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
model.train()
x = torch.tensor(a["x"], dtype=torch.float32).reshape(a["xshape"])
y = torch.tensor(a["y"])
`

// stepOutputs ends a step script: it differentiates loss and prints it,
// every gradient and every running statistic.
const stepOutputs = `
loss.backward()
out = {"loss": [loss.item()]}
for k, p in model.named_parameters():
    out[k + "_grad"] = p.grad.flatten().tolist()
for k, b in model.named_buffers():
    if not k.endswith("num_batches_tracked"):
        out[k + "_updated"] = b.flatten().tolist()
print(json.dumps(out))
`
