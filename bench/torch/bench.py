#!/usr/bin/env python3
"""PyTorch reference timings for taet's benchmarks (issue: fit, item 7; issue 21).

The rows of bench/compare.sh, each a CIFAR model (10 classes, 32x32) at the
batch of taet's train/bench_test.go, on the same thread count as taet, on
Debian's python3-torch (CPU):

  clean           ResNet-18, batch 128: one SGD step of cross-entropy on clean images
  taet            ResNet-18, batch 128: one TAET stage-2 step: PGD-10 (BatchNorm in
                  eval mode, start x + 0.001 N(0,1), step 0.003, eps 0.031) then an
                  SGD step on HEL
  pgd20           ResNet-18, batch 128: PGD-20 on a fixed model (evaluation)
  eval            ResNet-18, batch 128: a forward pass in eval mode
  resnet50-clean  ResNet-50, batch 32: as clean
  resnet50-taet   ResNet-50, batch 32: as taet
  vit-clean       ViT-Lite-7/4 (taet's "vit"), batch 128: as clean

The models are taet's (models/resnet.go, models/vit.go): torchvision's
structures and state-dict names with a CIFAR stem, written out here so that
bench-compare needs python3-torch only. Each model is built once and shared
by its rows, which run in the order above.

Prints one JSON line per row with images/s, the batch, the model's
parameter count (bench/compare.sh checks it and the batch against taet's)
and the BLAS library the process loaded (Debian's torch calls libblas.so.3
for nn.Linear: the reference BLAS unless libopenblas0-pthread provides it).
Run it twice, stock and with
GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
(DESIGN.md section 5), and compare taet against the faster.

usage: bench/torch/bench.py [--threads 2] [--repeats 3] [--which clean,taet,pgd20,eval,resnet50-clean,resnet50-taet,vit-clean]
"""
import argparse
import json
import os
import time
from collections import OrderedDict

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
        self.downsample = downsample(inp, planes, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (v1.5): 1x1 to planes, 3x3 with the stride,
    1x1 to 4 planes, each with its BatchNorm; ReLU after the shortcut's add."""
    expansion = 4

    def __init__(self, inp, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * planes)
        self.downsample = downsample(inp, 4 * planes, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


def downsample(inp, out, stride):
    """The shortcut's 1x1 convolution and BatchNorm where the block changes the shape, else None."""
    if stride == 1 and inp == out:
        return None
    return nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))


class ResNet(nn.Module):
    """torchvision's ResNet with the CIFAR stem (3x3 convolution, stride 1, no
    max-pool): layer1..layer4 of base 64, 128, 256, 512 channels (x4 after a
    bottleneck), layer2..layer4 striding on their first block."""

    def __init__(self, block, blocks, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, inp = [], 64
        for i, (planes, n) in enumerate(zip([64, 128, 256, 512], blocks)):
            stride = 1 if i == 0 else 2
            seq = []
            for j in range(n):
                seq.append(block(inp, planes, stride if j == 0 else 1))
                inp = planes * block.expansion
            layers.append(nn.Sequential(*seq))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(inp, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def ResNet18(classes=10):
    return ResNet(BasicBlock, [2, 2, 2, 2], classes)


def ResNet50(classes=10):
    return ResNet(Bottleneck, [3, 4, 6, 3], classes)


class EncoderBlock(nn.Module):
    """torchvision's EncoderBlock without dropout: pre-norm self-attention and
    MLP (Linear, exact GELU, Linear: state-dict keys mlp.0 and mlp.3)."""

    def __init__(self, dim, heads, mlp_dim):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Identity(), nn.Linear(mlp_dim, dim))

    def forward(self, x):
        a = self.ln_1(x)
        x = x + self.self_attention(a, a, a, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class ViT(nn.Module):
    """taet's "vit" (models.ViTLite74 at width 1, models/vit.go): torchvision's
    VisionTransformer with patch 4, dim 256, 7 layers of 4 heads, MLP 512.
    Patches embedded by conv_proj (with bias), class token first, positional
    embedding added, encoder.ln on the class token only (as taet: LayerNorm
    works per token, so this is encoder.ln followed by x[:, 0]), heads.head."""

    def __init__(self, classes=10, image=32, patch=4, dim=256, depth=7, heads=4, mlp_dim=512):
        super().__init__()
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.encoder = nn.Module()
        self.encoder.pos_embedding = nn.Parameter(torch.empty(1, (image // patch) ** 2 + 1, dim).normal_(std=0.02))
        self.encoder.layers = nn.Sequential(OrderedDict(
            (f"encoder_layer_{i}", EncoderBlock(dim, heads, mlp_dim)) for i in range(depth)))
        self.encoder.ln = nn.LayerNorm(dim, eps=1e-6)
        self.heads = nn.Sequential()
        self.heads.add_module("head", nn.Linear(dim, classes))

    def forward(self, x):
        x = self.conv_proj(x).flatten(2).transpose(1, 2)  # [N, S, D]
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], 1) + self.encoder.pos_embedding
        x = self.encoder.layers(x)
        return self.heads(self.encoder.ln(x[:, 0]))


# Trainable parameters of taet's models at 10 classes (models.ParamCount,
# which train/bench_test.go reports and bench/compare.sh checks against
# these): a model here with another count is not taet's. The ViT's by hand:
# conv_proj 256*3*4*4 + 256, class token 256, pos_embedding 65*256, per layer
# 2 LayerNorms 2*2*256, in_proj 3*256*256 + 3*256, out_proj 256*256 + 256,
# MLP 256*512 + 512 + 512*256 + 256 (527,104), encoder.ln 2*256, head
# 256*10 + 10: 12,544 + 256 + 16,640 + 7*527,104 + 512 + 2,570 = 3,722,250.
TAET_PARAMS = {"resnet18": 11_173_962, "resnet50": 23_520_842, "vit": 3_722_250}

MODELS = {"resnet18": ResNet18, "resnet50": ResNet50, "vit": ViT}

# ROWS: row name -> (model, batch, work), as train/bench_test.go's benchSteps
# and BenchmarkPGD20.
ROWS = {
    "clean": ("resnet18", 128, "clean"),
    "taet": ("resnet18", 128, "taet"),
    "pgd20": ("resnet18", 128, "pgd20"),
    "eval": ("resnet18", 128, "eval"),
    "resnet50-clean": ("resnet50", 32, "clean"),
    "resnet50-taet": ("resnet50", 32, "taet"),
    "vit-clean": ("vit", 128, "clean"),
}


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


def work(kind, model, opt, x, y):
    """The step of a row's kind (clean, taet, pgd20, eval) on model and its optimizer."""
    if kind == "clean":
        model.train()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    elif kind == "taet":
        adv = pgd(model, x, y, 0.031, 0.003, 10, "normal")
        model.train()
        opt.zero_grad()
        hel(model(adv), y, 10).backward()
        opt.step()
    elif kind == "pgd20":
        pgd(model, x, y, 8 / 255, 1 / 255, 20, "uniform")
    else:
        model.eval()
        with torch.no_grad():
            model(x)


def blas_library():
    """The BLAS shared libraries this process mapped (nn.Linear's), comma-separated, or "" if none."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in os.path.basename(line.split()[-1])}
    return ",".join(sorted(libs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--which", default=",".join(ROWS))
    args = ap.parse_args()
    which = args.which.split(",")
    unknown = [w for w in which if w not in ROWS]
    if unknown:
        ap.error(f"unknown rows {','.join(unknown)}: want some of {','.join(ROWS)}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    built = {}  # model name -> (model, optimizer), shared by its rows
    for name, (model_name, batch, kind) in ROWS.items():
        if name not in which:
            continue
        if model_name not in built:
            model = MODELS[model_name]()
            params = sum(p.numel() for p in model.parameters())
            if params != TAET_PARAMS[model_name]:
                raise SystemExit(f"bench.py: {model_name} has {params} parameters, taet's {TAET_PARAMS[model_name]}")
            built[model_name] = model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        model, opt = built[model_name]
        x = torch.rand(batch, 3, 32, 32)
        y = torch.randint(0, 10, (batch,))
        work(kind, model, opt, x, y)  # warm-up
        start = time.perf_counter()
        for _ in range(args.repeats):
            work(kind, model, opt, x, y)
        sec = (time.perf_counter() - start) / args.repeats
        print(json.dumps({"benchmark": name, "model": model_name, "framework": "torch " + torch.__version__,
                          "threads": args.threads, "batch": batch, "params": TAET_PARAMS[model_name],
                          "blas": blas_library(), "seconds_per_step": sec, "img_per_s": batch / sec}), flush=True)


if __name__ == "__main__":
    main()
