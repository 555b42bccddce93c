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
const ResNet18TrainStep = `
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
