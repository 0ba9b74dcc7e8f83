#!/usr/bin/env bash
# Interleaved bench_conv comparison: runs each given bench_conv binary ROUNDS times on the
# benchmarks matching FILTER (a regular expression anchored at the start), alternating binaries
# so all see the same machine load, and prints for every matching benchmark the median, min and
# max peak_pct per binary. The environment passes through (OMP_NUM_THREADS, DEEPSLIDE_ISA, ...),
# so one binary under two settings is compared by running the script twice in a row, or by
# wrapping the binary in `env VAR=... binary`.
#
#   bash bench/compare_conv_builds.sh 3 layer4.conv/fwd build/bench_conv /tmp/old/bench_conv
#   bash bench/compare_conv_builds.sh 3 '(downsample|r50.*expand)/fwd/' build/bench_conv /tmp/old/bench_conv
set -euo pipefail
source "$(dirname "$0")/stats.sh"
if [ $# -lt 3 ]; then
  echo "usage: $0 ROUNDS FILTER BENCH_CONV..." >&2
  exit 2
fi
rounds=$1 filter=$2
shift 2
declare -A res
names=()
for _ in $(seq "$rounds"); do
  for b in "$@"; do
    out=$($b --benchmark_filter="^$filter" 2>&1) || { echo "$0: $b failed: ${out: -400}" >&2; exit 1; }
    while read -r name v; do
      [[ " ${names[*]} " == *" $name "* ]] || names+=("$name")
      res["$name|$b"]+="$v "
    done < <(echo "$out" | awk '/peak_pct=/ {
      n = $1; sub(/\/min_time.*/, "", n); match($0, /peak_pct=[0-9.]+/); print n, substr($0, RSTART + 9, RLENGTH - 9) }')
  done
done
if [ ${#names[@]} -eq 0 ]; then
  echo "$0: no benchmark matches '^$filter'" >&2
  exit 1
fi
for name in "${names[@]}"; do
  for b in "$@"; do
    if [ -z "${res["$name|$b"]:-}" ]; then
      printf '%s [%s]: not run by this binary\n' "$name" "$b"
      continue
    fi
    read -r med lo hi < <(echo "${res["$name|$b"]}" | median_min_max)
    printf '%s [%s]: median %.1f (min %.1f max %.1f)\n' "$name" "$b" "$med" "$lo" "$hi"
  done
done
