#!/usr/bin/env python3
"""PyTorch's side of bench/fit-rss.sh: the work of

    taetctl fit --dataset cifar10 --method taet --stage ce:E1 --stage hel:E2
                --ir IR --n-max N --no-augment --eval-size M

as a PyTorch notebook does it, so that the two processes' peak RSS compare:
the CIFAR-10 binary files read as uint8 arrays (as torchvision's CIFAR10
keeps them) and each batch turned into float32 in [0, 1] when it is used;
the long-tailed split of taet's counts, n_c = int(N * (1/IR)^(c/9)), the first
n_c images of each class in a seeded shuffle; batches of 128, the partial one
dropped; E1 epochs of bench.py's clean CE step, then E2 of its TAET stage-2
step (PGD-10, then HEL); after every epoch the clean predictions and PGD-10
predictions of M test images and a checkpoint (torch.save, model and
optimizer). ResNet-18, SGD with momentum 0.9 and weight decay 5e-4 as taet's
defaults.

Prints one JSON line: the images trained, steps and wall seconds.

usage: bench/torch/fit.py --data DIR [--ir 10] [--n-max N] [--ce-epochs 1]
       [--hel-epochs 1] [--eval-size M] [--threads 2] --out FILE
"""
import argparse
import json
import os
import time

import numpy as np
import torch

from bench import ResNet18, pgd, work

BATCH = 128
CLASSES = 10


def read_cifar(paths):
    """Images [N, 3, 32, 32] uint8 and labels [N] int64 of CIFAR-10 binary files."""
    raw = np.concatenate([np.fromfile(p, dtype=np.uint8).reshape(-1, 3073) for p in paths])
    return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0].astype(np.int64)


def long_tail(labels, n_max, ir, rng):
    """Indices of the first n_c images of every class c in a shuffle of labels."""
    order = rng.permutation(len(labels))
    keep = []
    for c in range(CLASSES):
        n = int(n_max * (1 / ir) ** (c / (CLASSES - 1)))
        keep.extend(order[labels[order] == c][:n])
    return np.sort(np.array(keep))


def batch(images, labels, idx):
    return torch.from_numpy(images[idx].astype(np.float32) / 255), torch.from_numpy(labels[idx])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder of data_batch_1.bin ... data_batch_5.bin and test_batch.bin")
    ap.add_argument("--ir", type=float, default=10)
    ap.add_argument("--n-max", type=int, default=0, help="images of the head class (0 = as many as class 0 has)")
    ap.add_argument("--ce-epochs", type=int, default=1)
    ap.add_argument("--hel-epochs", type=int, default=1)
    ap.add_argument("--eval-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True, help="checkpoint file, rewritten after every epoch")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images, labels = read_cifar([os.path.join(args.data, f"data_batch_{i}.bin") for i in range(1, 6)])
    test_images, test_labels = read_cifar([os.path.join(args.data, "test_batch.bin")])
    n_max = args.n_max or int((labels == 0).sum())
    train = long_tail(labels, n_max, args.ir, rng)
    evaluation = rng.permutation(len(test_labels))[:args.eval_size]
    model = ResNet18(CLASSES)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    start, steps = time.perf_counter(), 0
    for kind in ["clean"] * args.ce_epochs + ["taet"] * args.hel_epochs:
        order = rng.permutation(train)
        for b in range(len(order) // BATCH):
            work(kind, model, opt, *batch(images, labels, order[b * BATCH:(b + 1) * BATCH]))
            steps += 1
        model.eval()
        for b in range(0, len(evaluation), BATCH):
            x, y = batch(test_images, test_labels, evaluation[b:b + BATCH])
            with torch.no_grad():
                model(x)
            adv = pgd(model, x, y, 0.031, 0.003, 10, "normal")
            with torch.no_grad():
                model(adv)
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, args.out + ".tmp")
        os.replace(args.out + ".tmp", args.out)
    print(json.dumps({"images": len(train), "steps": steps, "seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
