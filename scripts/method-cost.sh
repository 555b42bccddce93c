#!/usr/bin/env bash
# method-cost.sh — the training cost of each method under the reproduction's
# protocol (docs/results/fashion-mnist-lt.md, "Cost"): one fit per method, one
# at a time, on the Fashion-MNIST-LT split at IR 10 (seed 0), 1/16-width
# ResNet-18, 10 epochs with each method's stages, ε 8/255, no per-epoch
# evaluation, measured with GNU time: wall seconds and peak RSS. Run it on a
# quiet machine. Writes TSV (method, wall_s, peak_rss_kib, images/s of the
# last step) to stdout; the fits go to runs/cost/METHOD (removed first).
#
# Usage: scripts/method-cost.sh [N_MAX] [THREADS]   (defaults 1000 and 2)
set -euo pipefail
cd "$(dirname "$0")/.."
n_max=${1:-1000} threads=${2:-2}
taetctl=${TAETCTL:-bin/taetctl}
[ -x /usr/bin/time ] || { echo "method-cost.sh: needs GNU time (apt-get install time)" >&2; exit 10; }
declare -A stages=([taet]=ce:4+hel:6 [at]=at:10 [at-bsl]=bsl:10 [trades]=trades:10 [mart]=mart:10 [robal]=robal:10 [reat]=reat:10)
printf 'method\twall_s\tpeak_rss_kib\n'
for m in taet at at-bsl trades mart robal reat; do
  out=runs/cost/$m
  rm -rf "$out"
  /usr/bin/time -f '%e %M' -o runs/cost.time "$taetctl" --quiet --threads "$threads" fit --method "$m" --stage "${stages[$m]}" \
    --milestones 8,9 --ir 10 --n-max "$n_max" --seed 0 --width 0.0625 --eps 8/255 --eval-size 0 --out "$out" >&2
  read -r wall rss < runs/cost.time
  printf '%s\t%s\t%s\n' "$m" "$wall" "$rss"
done
rm -f runs/cost.time
