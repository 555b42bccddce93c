#!/usr/bin/env python3
"""PyTorch reference timings for taet's benchmarks (issue: fit, item 7).

CIFAR ResNet-18 (torchvision structure, 3x3 stem, no max-pool), batch 128,
the same thread count as taet, on Debian's python3-torch (CPU):

  clean   one SGD step of cross-entropy on clean images
  taet    one TAET stage-2 step: PGD-10 (BatchNorm in eval mode, start
          x + 0.001 N(0,1), step 0.003, eps 0.031) then an SGD step on HEL
  pgd20   PGD-20 on a fixed model (evaluation)
  eval    a forward pass in eval mode

Prints one JSON line per benchmark with images/s. Run it twice, stock and with
GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
(DESIGN.md section 5), and compare taet against the faster.

usage: bench/torch/bench.py [--threads 2] [--batch 128] [--repeats 3] [--which clean,taet,pgd20,eval]
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inp, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inp != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, inp = [], 64
        for planes, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers.append(nn.Sequential(BasicBlock(inp, planes, stride), BasicBlock(planes, planes)))
            inp = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def hel(logits, y, classes, a=0.1, b=0.1, g=0.1):
    """HEL over all classes, as DESIGN.md section 6 (the authors' code)."""
    ce = F.cross_entropy(logits, y, reduction="none")
    onehot = F.one_hot(y, classes).float()
    lc = (onehot * ce[:, None]).sum(0) / (onehot.sum(0) + 1e-10)
    m = lc.mean()
    return a * m + b * ((lc - m) ** 2).mean() + g * ((lc / (lc.sum() + 1e-10)) ** 2).sum()


def pgd(model, x, y, eps, step, steps, start):
    was = model.training
    model.eval()
    adv = x + 0.001 * torch.randn_like(x) if start == "normal" else x + torch.empty_like(x).uniform_(-eps, eps)
    adv = adv.clamp(0, 1).detach()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        adv = torch.min(torch.max(adv.detach() + step * grad.sign(), x - eps), x + eps).clamp(0, 1)
    model.train(was)
    return adv.detach()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--which", default="clean,taet,pgd20,eval")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ResNet18()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))

    def clean():
        model.train()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    def taet():
        adv = pgd(model, x, y, 0.031, 0.003, 10, "normal")
        model.train()
        opt.zero_grad()
        hel(model(adv), y, 10).backward()
        opt.step()

    def pgd20():
        pgd(model, x, y, 8 / 255, 1 / 255, 20, "uniform")

    def forward():
        model.eval()
        with torch.no_grad():
            model(x)

    for name, fn in [("clean", clean), ("taet", taet), ("pgd20", pgd20), ("eval", forward)]:
        if name not in args.which.split(","):
            continue
        fn()  # warm-up
        start = time.perf_counter()
        for _ in range(args.repeats):
            fn()
        sec = (time.perf_counter() - start) / args.repeats
        print(json.dumps({"benchmark": name, "framework": "torch " + torch.__version__, "threads": args.threads,
                          "batch": args.batch, "seconds_per_step": sec, "img_per_s": args.batch / sec}), flush=True)


if __name__ == "__main__":
    main()
