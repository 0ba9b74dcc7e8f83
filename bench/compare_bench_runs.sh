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
if ! [[ $rounds =~ ^[1-9][0-9]{0,3}$ ]]; then
  echo "$0: ROUNDS must be a whole number from 1 to 9999, got '${rounds:0:40}'" >&2
  exit 2
fi
for spec in "$@"; do
  if [[ $spec != ?*:?* ]]; then
    echo "$0: '${spec:0:80}' is not LABEL:COMMAND" >&2
    exit 2
  fi
done
declare -A res
labels=()
for spec in "$@"; do
  for l in "${labels[@]}"; do
    if [ "$l" = "${spec%%:*}" ]; then
      echo "$0: label '${l:0:40}' given twice" >&2
      exit 2
    fi
  done
  labels+=("${spec%%:*}")
done
for r in $(seq "$rounds"); do
  for spec in "$@"; do
    label=${spec%%:*} cmd=${spec#*:}
    if ! v=$(eval "$cmd" 2>/dev/null | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["ms_per_batch"])' 2>/dev/null); then
      echo "$0: round $r, $label: the command printed no bench JSON line with ms_per_batch" >&2
      exit 1
    fi
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
