#!/usr/bin/env bash
# Whole-model A/B on a noisy machine: `deepslide bench` commands, each given as "LABEL:COMMAND"
# (a command line printing bench's JSON line: two builds, or one build under two settings or
# environment variables), run in alternating rounds, each a fresh process, so all see the same
# machine load. Prints each run's ms per batch (stderr), then per label the median, min and max,
# and for every label after the first the rounds in which it was faster than the first and the
# median of the paired differences (negative: faster).
#
#   bash bench/compare_bench_runs.sh 9 "new:build/deepslide bench --mode train --iters 8 --warmup 2" \
#       "old:/tmp/base/build/deepslide bench --mode train --iters 8 --warmup 2"
set -euo pipefail
source "$(dirname "$0")/stats.sh"
if [ $# -lt 3 ]; then
  echo "usage: $0 ROUNDS LABEL:COMMAND LABEL:COMMAND..." >&2
  exit 2
fi
rounds=$1
shift
declare -A res
labels=()
for spec in "$@"; do labels+=("${spec%%:*}"); done
for r in $(seq "$rounds"); do
  for spec in "$@"; do
    label=${spec%%:*} cmd=${spec#*:}
    v=$(eval "$cmd" 2>/dev/null | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["ms_per_batch"])')
    echo "round $r $label: $v ms/batch" >&2
    res[$label]+="$v "
  done
done
first=${labels[0]}
for label in "${labels[@]}"; do
  read -r m lo hi < <(echo "${res[$label]}" | median_min_max)
  printf '%s: median %.1f ms/batch (min %.1f max %.1f): %s\n' "$label" "$m" "$lo" "$hi" "${res[$label]}"
  [ "$label" = "$first" ] && continue
  python3 -c "
import statistics
a = [float(x) for x in '${res[$label]}'.split()]
b = [float(x) for x in '${res[$first]}'.split()]
d = [x - y for x, y in zip(a, b)]
print('%s against %s: faster in %d of %d rounds, paired median %+.1f ms' %
      ('$label', '$first', sum(x < 0 for x in d), len(d), statistics.median(d)))"
done
