#!/usr/bin/env bash
# bench/compare.sh — taet against PyTorch on the same cores, side by side.
#
# Runs taet's training and attack benchmarks (go test ./train -bench ...) and
# bench/torch/bench.py (Debian's python3-torch, stock and with the tuned glibc
# malloc of DESIGN.md section 5) alternately for R rounds, each side warmed up
# by one untimed step and timed over S steps, then prints the median images/s
# of every row with its spread, the ratio against the faster PyTorch, and the
# peak RSS of the clean step on both sides (/usr/bin/time). Writes
# bench/out/compare.json:
#   {"rows": [{"name": "clean"|"taet"|"pgd20"|"eval", "taet": img_s, "torch": img_s, "ratio": r, ...}],
#    "rss": {"taet": bytes, "torch": bytes},
#    "taet_cpu_kernels": "onednn"|"blocked", "onednn_version": "2.6.3"|""}
# taet runs with its default CPU kernels (onednn where libdnnl.so.2 loads,
# else blocked; taetctl version says which).
#
# Usage: bench/compare.sh [--quick] [--rounds R] [--steps S] [--threads T]
#   --quick    one round of one timed step: a smoke run (minutes, not a measurement)
#   --rounds   rounds of alternation (default 2)
#   --steps    timed steps per benchmark and round (default 3)
#   --threads  threads on both sides (default 2)
# Run it on a quiet machine: nothing else may run while it measures.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=2 steps=3 threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) rounds=1 steps=1 ;;
    --rounds) rounds=$2; shift ;;
    --steps) steps=$2; shift ;;
    --threads) threads=$2; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for v in "$rounds" "$steps" "$threads"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench/compare.sh: --rounds, --steps and --threads take positive integers, got $v" >&2; exit 2; }
done

py=/usr/bin/python3
if ! $py -c 'import torch' 2>/dev/null || [ ! -x /usr/bin/time ]; then
  echo "bench/compare.sh: needs Debian's python3-torch and time: run 'make bench-deps' (apt-get install python3-torch time)" >&2
  exit 10
fi

out=$PWD/bench/out
mkdir -p "$out"
raw=$out/raw.jsonl
: > "$raw"
tuned='glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184'
echo "building the benchmark binary" >&2
go test -c -o "$out/train.test" ./train
go build -o "$out/taetctl" ./cmd/taetctl
export TAET_ORT_LIB=${TAET_ORT_LIB:-$PWD/third_party/onnxruntime/libonnxruntime.so.1}
# The CPU kernels the benchmarks' sessions use (their default) and oneDNN's version.
read -r kernels onednn < <("$out/taetctl" --json version | $py -c 'import json, sys; r = json.load(sys.stdin); print(r["cpu_kernels"], r.get("onednn_version", "-"))')
echo "taet CPU kernels: $kernels (oneDNN $onednn)" >&2

# taet_round ROUND: taet's four rows as JSON lines.
taet_round() {
  echo "round $1: taet" >&2
  (cd train && "$out/train.test" -test.run '^$' -test.bench 'BenchmarkStep|BenchmarkPGD20' \
      -test.benchtime "${steps}x" -test.timeout 0 -bench-threads "$threads") |
    $py -c '
import json, re, sys
names = {"Step/clean": "clean", "Step/taet": "taet", "PGD20/pgd-20": "pgd20", "PGD20/forward": "eval"}
for line in sys.stdin:
    m = re.match(r"Benchmark(\S+?)(-\d+)?\s+\d+\s+.*?([\d.]+) img/s", line)
    if m and m.group(1) in names:
        print(json.dumps({"round": int(sys.argv[1]), "side": "taet", "name": names[m.group(1)], "img_s": float(m.group(3))}))
' "$1" >> "$raw"
}

# torch_round ROUND SIDE [GLIBC_TUNABLES]: PyTorch's four rows as JSON lines.
torch_round() {
  echo "round $1: $2" >&2
  GLIBC_TUNABLES=${3:-} $py bench/torch/bench.py --threads "$threads" --repeats "$steps" |
    $py -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(json.dumps({"round": int(sys.argv[1]), "side": sys.argv[2], "name": r["benchmark"], "img_s": r["img_per_s"]}))
' "$1" "$2" >> "$raw"
}

for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    taet_round "$r"; torch_round "$r" torch-stock; torch_round "$r" torch-tuned "$tuned"
  else
    torch_round "$r" torch-tuned "$tuned"; torch_round "$r" torch-stock; taet_round "$r"
  fi
done

# Peak RSS (KiB from /usr/bin/time) of the clean step on each side.
rss() { /usr/bin/time -f '%M' -o "$out/rss.txt" "$@" > /dev/null 2>&1; echo $(( $(tail -1 "$out/rss.txt") * 1024 )); }
echo "peak RSS of the clean step" >&2
rss_taet=$(cd train && rss "$out/train.test" -test.run '^$' -test.bench 'BenchmarkStep/clean' -test.benchtime "${steps}x" -bench-threads "$threads")
rss_stock=$(rss $py bench/torch/bench.py --threads "$threads" --repeats "$steps" --which clean)
rss_tuned=$(GLIBC_TUNABLES=$tuned rss $py bench/torch/bench.py --threads "$threads" --repeats "$steps" --which clean)

$py - "$raw" "$out/compare.json" "$rss_taet" "$rss_stock" "$rss_tuned" "$kernels" "$onednn" <<'EOF'
import json, statistics, sys
raw, path = sys.argv[1], sys.argv[2]
rss_taet, rss_stock, rss_tuned = map(int, sys.argv[3:6])
kernels, onednn = sys.argv[6], sys.argv[7].replace("-", "")
runs = [json.loads(l) for l in open(raw)]
def vals(side, name):
    return [r["img_s"] for r in runs if r["side"] == side and r["name"] == name]
rows = []
for name in ["clean", "taet", "pgd20", "eval"]:
    t, s, u = vals("taet", name), vals("torch-stock", name), vals("torch-tuned", name)
    if not t or not s or not u:
        sys.exit(f"bench/compare.sh: no measurement for {name} (taet {t}, torch {s}, {u})")
    best = "torch-tuned" if statistics.median(u) > statistics.median(s) else "torch-stock"
    torch = statistics.median(u if best == "torch-tuned" else s)
    rows.append({"name": name, "taet": statistics.median(t), "torch": torch,
                 "ratio": statistics.median(t) / torch, "torch_config": best,
                 "taet_runs": t, "torch_stock_runs": s, "torch_tuned_runs": u})
clean_best = rows[0]["torch_config"]
rss = {"taet": rss_taet, "torch": rss_tuned if clean_best == "torch-tuned" else rss_stock,
       "torch_stock": rss_stock, "torch_tuned": rss_tuned}
json.dump({"rows": rows, "rss": rss, "taet_cpu_kernels": kernels, "onednn_version": onednn}, open(path, "w"), indent=1)
print(f"taet CPU kernels: {kernels}" + (f" (oneDNN {onednn})" if onednn else ""))
print(f"{'row':<7} {'taet img/s':>18} {'torch img/s':>20} {'taet/torch':>10}")
for r in rows:
    spread = lambda v: f"{min(v):.1f}-{max(v):.1f}"
    other = r["torch_tuned_runs"] if r["torch_config"] == "torch-tuned" else r["torch_stock_runs"]
    print(f"{r['name']:<7} {r['taet']:8.2f} ({spread(r['taet_runs']):>9}) {r['torch']:8.2f} ({spread(other):>9}) {r['ratio']:9.2f}x"
          f"  [{r['torch_config']}]")
print(f"peak RSS, clean step: taet {rss['taet']/2**20:.0f} MiB, torch {rss['torch']/2**20:.0f} MiB "
      f"({rss['taet']/rss['torch']:.2f}x)")
print(f"wrote {path}")
EOF
