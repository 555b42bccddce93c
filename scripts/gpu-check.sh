#!/usr/bin/env bash
# gpu-check.sh — verify taet's CUDA path on a GPU machine in one short run
# (under 8 minutes whatever happens: every step has a time limit) and write
# one JSON report.
#
# 1. join: joins and verifies the ONNX Runtime pieces sent with
#    `scripts/install-ort.sh --cuda --pieces DIR` (--pieces DIR; skipped without)
# 2. discovery: points taet's CUDA library discovery at the nvidia/*/lib
#    folders of every Python environment found (TAET_CUDA_LIBS)
# 3. version: `taetctl version` (runtime, providers, each CUDA library)
# 4. `taetctl device-check` sections, each in its own process with its own
#    time limit: train-step, pgd, throughput, fit-resume (see package devcheck)
#
# Every step reports its failure in the JSON and the rest still run; the exit
# status is 0 only when all passed. --dry-run runs every section at small
# sizes with the CPU provider standing in for the GPU (CI runs it), and joins
# into a temporary folder instead of third_party/onnxruntime.
#
# Usage: scripts/gpu-check.sh [--dry-run] [--pieces DIR] [--out FILE]
#                             [--taetctl BIN] [--device cuda:N]
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dry=0 pieces="" out="gpu-check.json" taetctl="$root/bin/taetctl" device="cuda"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --pieces) pieces="${2:?--pieces needs a directory}"; shift ;;
    --out) out="${2:?--out needs a file}"; shift ;;
    --taetctl) taetctl="${2:?--taetctl needs a binary}"; shift ;;
    --device) device="${2:?--device needs cuda or cuda:N}"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu-check.sh: unknown argument $1 (want --dry-run, --pieces DIR, --out FILE, --taetctl BIN or --device D)" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$taetctl" ] || { echo "gpu-check.sh: $taetctl is not an executable (build it with make build, or give --taetctl BIN)" >&2; exit 2; }

ort_dir="$root/third_party/onnxruntime"
small=()
if [ "$dry" = 1 ]; then
  device=cpu small=(--small)
  ort_dir="$(mktemp -d)"
  trap 'rm -rf "$ort_dir"' EXIT
fi

# json_string TEXT: TEXT as a JSON string (control characters dropped).
json_string() {
  printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\010\013-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | sed -e ':a;N;$!ba;s/\n/\\n/g')"
}

# failed NAME RC STDERR: a report for a step that gave no report of its own.
failed() {
  printf '{"section":"%s","ok":false,"exit":%d,"error":%s}' "$1" "$2" "$(json_string "$(printf '%s' "$3" | tail -c 2000)")"
}

sections=()
all_ok=1

# --- 1. join -------------------------------------------------------------
if [ -n "$pieces" ]; then
  if err="$(bash "$root/scripts/install-ort.sh" --join "$pieces" --dest "$ort_dir" 2>&1)"; then
    sections+=("{\"section\":\"join\",\"ok\":true,\"dest\":$(json_string "$ort_dir")}")
  else
    sections+=("$(failed join $? "$err")"); all_ok=0
  fi
else
  sections+=('{"section":"join","ok":true,"skipped":"no --pieces given"}')
fi
if [ "$dry" = 0 ] && [ -f "$ort_dir/libonnxruntime.so.1" ]; then
  export TAET_ORT_LIB="$ort_dir/libonnxruntime.so.1"
fi

# --- 2. discovery --------------------------------------------------------
dirs=""
for py in python3 "${VIRTUAL_ENV:-/nonexistent}/bin/python" "${CONDA_PREFIX:-/nonexistent}/bin/python"; do
  command -v "$py" >/dev/null 2>&1 || continue
  for d in $("$py" -c 'import nvidia, glob, os; print(" ".join(d for p in nvidia.__path__ for d in glob.glob(os.path.join(p, "*", "lib"))))' 2>/dev/null); do
    case ":$dirs:" in *":$d:"*) ;; *) dirs="${dirs:+$dirs:}$d" ;; esac
  done
done
export TAET_CUDA_LIBS="${dirs}${TAET_CUDA_LIBS:+:$TAET_CUDA_LIBS}"
sections+=("{\"section\":\"discovery\",\"ok\":true,\"taet_cuda_libs\":$(json_string "$TAET_CUDA_LIBS")}")

# --- 3. version ----------------------------------------------------------
errf="$(mktemp)"
if v="$(timeout 30 "$taetctl" --json version 2>"$errf")" && [ "${v:0:1}" = "{" ]; then
  sections+=("{\"section\":\"version\",\"ok\":true,\"report\":$v}")
else
  sections+=("$(failed version $? "$(cat "$errf")")"); all_ok=0
fi

# --- 4. device-check sections --------------------------------------------
for s in train-step:90 pgd:60 throughput:150 fit-resume:120; do  # 7 minutes at most
  name="${s%%:*}" limit="${s##*:}"
  echo "gpu-check.sh: $name on $device (at most ${limit}s)" >&2
  r="$(timeout --kill-after=10 "$limit" "$taetctl" --threads "$(nproc)" device-check --section "$name" --device "$device" "${small[@]}" 2>"$errf")"
  rc=$?
  r="$(printf '%s' "$r" | tail -n 1)"
  if [ "${r:0:1}" = "{" ]; then
    sections+=("$r")
    [ "$rc" = 0 ] || all_ok=0
  else
    [ "$rc" = 124 ] && echo "timed out after ${limit}s" >> "$errf"
    sections+=("$(failed "$name" "$rc" "$(cat "$errf")")"); all_ok=0
  fi
done
rm -f "$errf"

# --- report --------------------------------------------------------------
tmp="$out.tmp.$$"
{
  printf '{"gpu_check":1,"dry_run":%s,"device":"%s","date":"%s","ok":%s,"sections":[\n' \
    "$([ "$dry" = 1 ] && echo true || echo false)" "$device" "$(date -u +%FT%TZ)" "$([ "$all_ok" = 1 ] && echo true || echo false)"
  for i in "${!sections[@]}"; do
    [ "$i" -gt 0 ] && printf ',\n'
    printf '%s' "${sections[$i]}"
  done
  printf '\n]}\n'
} > "$tmp" && mv -f "$tmp" "$out"
echo "gpu-check.sh: report in $out ($([ "$all_ok" = 1 ] && echo 'all passed' || echo 'some failed'))" >&2
[ "$all_ok" = 1 ]
