#!/usr/bin/env bash
# quickstart.sh — the main job on the embedded default: a short but real
# two-stage TAET fit (clean cross-entropy, then HEL on PGD examples) of a
# 1/8-width ResNet-18 on long-tailed Fashion-MNIST (IR 10, 1000 images in the
# head class), then clean balanced accuracy and PGD balanced robustness on
# 1000 test images. About 5 minutes on 2 cores. Run again to resume (or, when
# finished, to print the result again); delete runs/quickstart to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/quickstart
resume=()
[ -f "$out/checkpoint.safetensors" ] && resume=(--resume)
exec bin/taetctl fit --method taet --stage ce:6 --stage hel:3 \
  --dataset fashion-mnist --ir 10 --n-max 1000 \
  --model resnet18 --width 0.125 --eval-size 1000 \
  --out "$out" "${resume[@]}" "$@"
