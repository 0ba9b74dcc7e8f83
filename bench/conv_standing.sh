#!/usr/bin/env bash
# The per-convolution standing: runs the whole bench_conv suite RUNS times and prints, per
# benchmark, the median (min, max) of peak_pct over the runs, one line each. The machines are
# noisy (neighbours' memory traffic moves single runs by 10 points), so quote the medians and the
# time of day, and compare builds with compare_conv_builds.sh, which alternates them.
#
#   bash bench/conv_standing.sh 3 build/bench_conv
set -euo pipefail
source "$(dirname "$0")/stats.sh"
if [ $# -ne 2 ]; then
  echo "usage: $0 RUNS BENCH_CONV" >&2
  exit 2
fi
runs=$1 bin=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$runs"); do
  "$bin" 2>/dev/null | awk '/peak_pct=/ {
      name = $1; sub(/\/min_time.*/, "", name)
      match($0, /peak_pct=[0-9.]+/); print name, substr($0, RSTART + 9, RLENGTH - 9) }' >>"$out"
done
date -u +"# %Y-%m-%d %H:%M UTC, $runs runs of $bin: median (min, max) % of FMA peak"
awk '{ v[$1] = v[$1] " " $2; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
     END { for (i = 1; i <= n; ++i) print order[i], v[order[i]] }' "$out" |
  while read -r name vals; do
    read -r med lo hi < <(echo "$vals" | median_min_max)
    printf '%-32s %5.1f (%5.1f, %5.1f)\n' "$name" "$med" "$lo" "$hi"
  done
