#!/usr/bin/env bash
# bench/compare.sh — taet against PyTorch on the same cores, side by side.
#
# Runs taet's training and attack benchmarks (go test ./train -bench ...) and
# bench/torch/bench.py (Debian's python3-torch, stock and with the tuned glibc
# malloc of DESIGN.md section 5) alternately for R rounds, each side warmed up
# by one untimed step and timed over S steps, then prints the median images/s
# of every row with its spread, the ratio against the faster PyTorch, and the
# peak RSS of the clean step on both sides (/usr/bin/time). The rows, CIFAR
# models (10 classes, 32x32) on T threads:
#   clean           ResNet-18, batch 128: one CE training step
#   taet            ResNet-18, batch 128: one TAET stage-2 step (PGD-10, then HEL)
#   pgd20           ResNet-18, batch 128: PGD-20 evaluation
#   eval            ResNet-18, batch 128: a forward pass
#   resnet50-clean  ResNet-50, batch 32: as clean
#   resnet50-taet   ResNet-50, batch 32: as taet
#   vit-clean       ViT-Lite-7/4 (model "vit"), batch 128: as clean
# Both sides report each row's batch and parameter count; they must agree.
# Writes bench/out/compare.json:
#   {"rows": [{"name": row, "batch": n, "params": n, "taet": img_s, "torch": img_s, "ratio": r, ...}],
#    "rss": {"taet": bytes, "torch": bytes, ...} (null without the clean row),
#    "taet_cpu_kernels": "onednn"|"blocked", "onednn_version": "2.6.3"|"",
#    "torch_blas": the BLAS libraries the torch processes mapped}
# taet runs with its default CPU kernels (onednn where libdnnl.so.2 loads,
# else blocked; taetctl version says which). PyTorch's nn.Linear runs on
# the libblas.so.3 alternative: OpenBLAS where libopenblas0-pthread is
# installed (make bench-deps), with OPENBLAS_NUM_THREADS=T.
#
# Usage: bench/compare.sh [--quick] [--rounds R] [--steps S] [--threads T] [--rows LIST]
#   --quick    one round of one timed step: a smoke run (minutes, not a measurement)
#   --rounds   rounds of alternation (default 2)
#   --steps    timed steps per benchmark and round (default 3)
#   --threads  threads on both sides (default 2)
#   --rows     comma-separated rows to run (default all, in the order above)
# Run it on a quiet machine: nothing else may run while it measures.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every row and the Go benchmark that measures it (train/bench_test.go).
all_rows=(clean taet pgd20 eval resnet50-clean resnet50-taet vit-clean)
declare -A go_bench=([clean]=Step/clean [taet]=Step/taet [pgd20]=PGD20/pgd-20 [eval]=PGD20/forward
  [resnet50-clean]=Step/resnet50-clean [resnet50-taet]=Step/resnet50-taet [vit-clean]=Step/vit-clean)

rounds=2 steps=3 threads=2 row_list=$(IFS=,; echo "${all_rows[*]}")
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) rounds=1 steps=1 ;;
    --rounds) rounds=$2; shift ;;
    --steps) steps=$2; shift ;;
    --threads) threads=$2; shift ;;
    --rows) row_list=$2; shift ;;
    -h|--help) sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for v in "$rounds" "$steps" "$threads"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench/compare.sh: --rounds, --steps and --threads take positive integers, got $v" >&2; exit 2; }
done
# rows: the chosen rows in all_rows' order; go_funcs and go_subs: the two
# levels of the -test.bench pattern that selects their benchmarks.
IFS=, read -ra picked <<< "$row_list"
for p in "${picked[@]}"; do
  [ -n "$p" ] && [ -n "${go_bench[$p]:-}" ] || { echo "bench/compare.sh: --rows: unknown row '$p': want some of $(IFS=,; echo "${all_rows[*]}")" >&2; exit 2; }
done
rows=() go_funcs=() go_subs=()
for r in "${all_rows[@]}"; do
  [[ ",$row_list," == *",$r,"* ]] || continue
  rows+=("$r") go_subs+=("${go_bench[$r]#*/}")
  f=Benchmark${go_bench[$r]%%/*}
  [[ " ${go_funcs[*]} " == *" $f "* ]] || go_funcs+=("$f")
done
[ ${#rows[@]} -gt 0 ] || { echo "bench/compare.sh: --rows: no rows chosen" >&2; exit 2; }
go_pattern="^($(IFS='|'; echo "${go_funcs[*]}"))\$/^($(IFS='|'; echo "${go_subs[*]}"))\$"
go_names=$(for r in "${rows[@]}"; do echo "${go_bench[$r]}=$r"; done)
torch_which=$(IFS=,; echo "${rows[*]}")

. bench/lib.sh
need_torch bench/compare.sh

out=$PWD/bench/out
mkdir -p "$out"
raw=$out/raw.jsonl
: > "$raw"
echo "building the benchmark binary" >&2
go test -c -o "$out/train.test" ./train
go build -o "$out/taetctl" ./cmd/taetctl
# The CPU kernels the benchmarks' sessions use (their default) and oneDNN's version.
read -r kernels onednn < <("$out/taetctl" --json version | $py -c 'import json, sys; r = json.load(sys.stdin); print(r["cpu_kernels"], r.get("onednn_version", "-"))')
echo "taet CPU kernels: $kernels (oneDNN $onednn)" >&2

# taet_round ROUND: taet's rows as JSON lines (images/s, batch, parameters).
taet_round() {
  echo "round $1: taet" >&2
  (cd train && "$out/train.test" -test.run '^$' -test.bench "$go_pattern" \
      -test.benchtime "${steps}x" -test.timeout 0 -bench-threads "$threads") |
    $py -c '
import json, re, sys
names = dict(l.split("=") for l in sys.argv[2].splitlines())
for line in sys.stdin:
    m = re.match(r"Benchmark(\S+)\s+\d+\s+(.*)", line)
    if not m:
        continue
    name = m.group(1) if m.group(1) in names else re.sub(r"-\d+$", "", m.group(1))  # the -GOMAXPROCS suffix
    if name in names:
        metric = {unit: float(v) for v, unit in re.findall(r"(\S+) (\S+)", m.group(2))}
        print(json.dumps({"round": int(sys.argv[1]), "side": "taet", "name": names[name], "img_s": metric["img/s"],
                          "batch": int(metric["batch"]), "params": int(metric["params"])}))
' "$1" "$go_names" >> "$raw"
}

# torch_round ROUND SIDE [GLIBC_TUNABLES]: PyTorch's rows as JSON lines.
torch_round() {
  echo "round $1: $2" >&2
  GLIBC_TUNABLES=${3:-} OPENBLAS_NUM_THREADS=$threads $py bench/torch/bench.py --threads "$threads" --repeats "$steps" --which "$torch_which" |
    $py -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(json.dumps({"round": int(sys.argv[1]), "side": sys.argv[2], "name": r["benchmark"], "img_s": r["img_per_s"],
                      "batch": r["batch"], "params": r["params"], "blas": r["blas"]}))
' "$1" "$2" >> "$raw"
}

for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    taet_round "$r"; torch_round "$r" torch-stock; torch_round "$r" torch-tuned "$tuned"
  else
    torch_round "$r" torch-tuned "$tuned"; torch_round "$r" torch-stock; taet_round "$r"
  fi
done

# Peak RSS (KiB from /usr/bin/time) of the clean step on each side, when the clean row runs.
rss_taet=0 rss_stock=0 rss_tuned=0
if [[ " ${rows[*]} " == *" clean "* ]]; then
  rss() { /usr/bin/time -f '%M' -o "$out/rss.txt" "$@" > /dev/null 2>&1; echo $(( $(tail -1 "$out/rss.txt") * 1024 )); }
  echo "peak RSS of the clean step" >&2
  rss_taet=$(cd train && rss "$out/train.test" -test.run '^$' -test.bench '^BenchmarkStep$/^clean$' -test.benchtime "${steps}x" -bench-threads "$threads")
  rss_stock=$(OPENBLAS_NUM_THREADS=$threads rss $py bench/torch/bench.py --threads "$threads" --repeats "$steps" --which clean)
  rss_tuned=$(GLIBC_TUNABLES=$tuned OPENBLAS_NUM_THREADS=$threads rss $py bench/torch/bench.py --threads "$threads" --repeats "$steps" --which clean)
fi

$py - "$raw" "$out/compare.json" "$rss_taet" "$rss_stock" "$rss_tuned" "$kernels" "$onednn" "${rows[@]}" <<'EOF'
import json, statistics, sys
raw, path = sys.argv[1], sys.argv[2]
rss_taet, rss_stock, rss_tuned = map(int, sys.argv[3:6])
kernels, onednn = sys.argv[6], sys.argv[7].replace("-", "")
names = sys.argv[8:]
runs = [json.loads(l) for l in open(raw)]
def pick(side, name):
    return [r for r in runs if r["side"] == side and r["name"] == name]
rows = []
for name in names:
    t, s, u = pick("taet", name), pick("torch-stock", name), pick("torch-tuned", name)
    if not t or not s or not u:
        sys.exit(f"bench/compare.sh: no measurement for {name} (taet {len(t)}, torch stock {len(s)}, tuned {len(u)} runs)")
    sizes = {(r["batch"], r["params"]) for r in t + s + u}
    if len(sizes) != 1:
        sys.exit(f"bench/compare.sh: {name}: taet and torch disagree on (batch, parameters): {sorted(sizes)}")
    (batch, params), = sizes
    t, s, u = ([r["img_s"] for r in x] for x in (t, s, u))
    best = "torch-tuned" if statistics.median(u) > statistics.median(s) else "torch-stock"
    torch = statistics.median(u if best == "torch-tuned" else s)
    rows.append({"name": name, "batch": batch, "params": params, "taet": statistics.median(t), "torch": torch,
                 "ratio": statistics.median(t) / torch, "torch_config": best,
                 "taet_runs": t, "torch_stock_runs": s, "torch_tuned_runs": u})
rss = None
clean = [r for r in rows if r["name"] == "clean"]
if clean:
    rss = {"taet": rss_taet, "torch": rss_tuned if clean[0]["torch_config"] == "torch-tuned" else rss_stock,
           "torch_stock": rss_stock, "torch_tuned": rss_tuned}
blas = ";".join(sorted({r["blas"] for r in runs if r["side"] != "taet"}))
json.dump({"rows": rows, "rss": rss, "taet_cpu_kernels": kernels, "onednn_version": onednn, "torch_blas": blas},
          open(path, "w"), indent=1)
print(f"taet CPU kernels: {kernels}" + (f" (oneDNN {onednn})" if onednn else ""))
print(f"torch BLAS: {blas or 'none mapped'}")
print(f"{'row':<14} {'batch':>5} {'taet img/s':>22} {'torch img/s':>22} {'taet/torch':>10}")
for r in rows:
    spread = lambda v: f"{min(v):.1f}-{max(v):.1f}"
    other = r["torch_tuned_runs"] if r["torch_config"] == "torch-tuned" else r["torch_stock_runs"]
    print(f"{r['name']:<14} {r['batch']:5d} {r['taet']:8.2f} ({spread(r['taet_runs']):>11}) {r['torch']:8.2f} ({spread(other):>11})"
          f" {r['ratio']:9.2f}x  [{r['torch_config']}]")
if rss:
    print(f"peak RSS, clean step: taet {rss['taet']/2**20:.0f} MiB, torch {rss['torch']/2**20:.0f} MiB "
          f"({rss['taet']/rss['torch']:.2f}x)")
print(f"wrote {path}")
EOF
