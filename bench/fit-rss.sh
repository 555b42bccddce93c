#!/usr/bin/env bash
# bench/fit-rss.sh — peak memory of a CIFAR-size `taetctl fit`, against PyTorch.
#
# Writes a synthetic CIFAR-10 in the binary format (bench/out/fit-cifar:
# 50,000 training and 10,000 test images of random pixels, the labels in
# turn), then measures with /usr/bin/time the peak RSS and wall time of
#   taetctl fit --dataset cifar10 --method taet --stage ce:1 --stage hel:1
#               --ir IR --n-max N --no-augment --eval-size 128 --threads T
# and of bench/torch/fit.py doing the same work in PyTorch (the files read
# as uint8 arrays as torchvision keeps them, the same split sizes, steps,
# per-epoch evaluation and checkpoints), stock and with the tuned glibc
# malloc of DESIGN.md section 5, for R rounds in alternating order (the peak
# RSS of one fit varies by up to ±15% from run to run, on both sides).
# Prints the medians with their range and writes bench/out/fit-rss.json:
#   {"taet": {"rss": median bytes, "seconds": median s, "runs": [[bytes, s], ...]},
#    "torch_stock": {...}, "torch_tuned": {...},
#    "rounds": R, "n_max": N, "ir": IR, "threads": T, "taet_cpu_kernels": "onednn"|"blocked"}
#
# Usage: bench/fit-rss.sh [--rounds R] [--n-max N] [--ir IR] [--threads T]
#   --rounds   rounds of the three fits (default 3; about 14 minutes each)
#   --n-max    images of the head class in the split (default 256: 1,043
#              images, 8 steps an epoch; 0 = all 5,000, 20,431 images)
#   --ir       imbalance ratio (default 10)
#   --threads  threads on both sides (default 2)
# Run it on a quiet machine: nothing else may run while it measures.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 n_max=256 ir=10 threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --n-max) n_max=$2; shift ;;
    --ir) ir=$2; shift ;;
    --threads) threads=$2; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/fit-rss.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ "$n_max" =~ ^[0-9]+$ ]] || { echo "bench/fit-rss.sh: --n-max takes an integer ≥ 0, got $n_max" >&2; exit 2; }
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "bench/fit-rss.sh: --threads takes a positive integer, got $threads" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bench/fit-rss.sh: --rounds takes a positive integer, got $rounds" >&2; exit 2; }
[[ "$ir" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "bench/fit-rss.sh: --ir takes a number ≥ 1, got $ir" >&2; exit 2; }

. bench/lib.sh
need_torch bench/fit-rss.sh

out=$PWD/bench/out
data=$out/fit-cifar/cifar-10-batches-bin
mkdir -p "$data"
if [ ! -s "$data/test_batch.bin" ]; then
  echo "writing a synthetic CIFAR-10 into $data" >&2
  $py - "$data" <<'EOF'
import os, sys
import numpy as np
rng = np.random.default_rng(0)
def write(name, n, first):
    rec = rng.integers(0, 256, size=(n, 3073), dtype=np.uint8)
    rec[:, 0] = (np.arange(first, first + n) % 10).astype(np.uint8)
    rec.tofile(os.path.join(sys.argv[1], name + ".tmp"))
    os.replace(os.path.join(sys.argv[1], name + ".tmp"), os.path.join(sys.argv[1], name))
for b in range(1, 6):
    write(f"data_batch_{b}.bin", 10000, (b - 1) * 10000)
write("test_batch.bin", 10000, 0)
EOF
fi

echo "building taetctl" >&2
go build -o "$out/taetctl" ./cmd/taetctl
kernels=$("$out/taetctl" --json version | $py -c 'import json, sys; print(json.load(sys.stdin)["cpu_kernels"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# measure NAME CMD...: runs CMD under /usr/bin/time; prints "NAME RSS_BYTES SECONDS".
measure() {
  local name=$1; shift
  echo "$name: $*" >&2
  /usr/bin/time -f '%M %e' -o "$work/time.txt" "$@" > "$work/$name.out" 2> "$work/$name.err" ||
    { echo "bench/fit-rss.sh: $name failed:" >&2; tail -20 "$work/$name.err" >&2; exit 1; }
  read -r kib sec < <(tail -1 "$work/time.txt")
  echo "  $name: peak RSS $((kib / 1024)) MiB, $sec s" >&2
  echo "$name $((kib * 1024)) $sec"
}

# side NAME: one fit of taet, torch_stock or torch_tuned.
side() {
  case "$1" in
    taet) rm -rf "$work/run"
      measure taet "$out/taetctl" fit --dataset cifar10 --data "$data" --method taet --stage ce:1 --stage hel:1 \
        --ir "$ir" --n-max "$n_max" --no-augment --eval-size 128 --threads "$threads" --out "$work/run" --quiet ;;
    torch_stock|torch_tuned)
      local tunables= # stock: an empty GLIBC_TUNABLES sets none
      [ "$1" = torch_stock ] || tunables=$tuned
      GLIBC_TUNABLES=$tunables measure "$1" $py bench/torch/fit.py --data "$data" --ir "$ir" --n-max "$n_max" \
        --eval-size 128 --threads "$threads" --out "$work/torch.pt" ;;
  esac
}
results=$(
  for ((r = 1; r <= rounds; r++)); do
    echo "round $r of $rounds" >&2
    if ((r % 2)); then order="taet torch_stock torch_tuned"; else order="torch_tuned torch_stock taet"; fi
    for s in $order; do side "$s"; done
  done
)

$py - "$out/fit-rss.json" "$rounds" "$n_max" "$ir" "$threads" "$kernels" <<EOF
import json, statistics, sys
path, rounds, n_max, ir, threads, kernels = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
runs = {}
for line in """$results""".splitlines():
    name, rss, sec = line.split()
    runs.setdefault(name, []).append([int(rss), float(sec)])
res = {name: {"rss": int(statistics.median(r[0] for r in rs)), "seconds": statistics.median(r[1] for r in rs), "runs": rs}
       for name, rs in runs.items()}
res.update(rounds=rounds, n_max=n_max, ir=ir, threads=threads, taet_cpu_kernels=kernels)
json.dump(res, open(path, "w"), indent=1)
for name in ("taet", "torch_stock", "torch_tuned"):
    r, rss = res[name], [x[0] / 2**20 for x in res[name]["runs"]]
    print(f"{name:<12} peak RSS {r['rss'] / 2**20:7.0f} MiB ({min(rss):.0f}-{max(rss):.0f})  wall {r['seconds']:7.1f} s")
best = min(res["torch_stock"]["rss"], res["torch_tuned"]["rss"])
print(f"taet / torch (the smaller): {res['taet']['rss'] / best:.2f}x")
print(f"wrote {path}")
EOF
