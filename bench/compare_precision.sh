#!/usr/bin/env bash
# `deepslide bench --mode infer` at fp32, bf16 and int8, alternating in the same run (each round a
# fresh process per precision, so all see the same machine load): prints each run's ms per batch,
# the median, min and max per precision, and the ratios of the medians (fp32 / bf16, fp32 / int8:
# the speed-ups). PRECISIONS in the environment picks others (default "fp32 bf16 int8"); an entry
# P/ALGO runs precision P with --conv-algo ALGO (e.g. "fp32 bf16/direct bf16").
# Extra arguments go to every run (default: --batch 16 --size 224 --threads 2).
#
#   bash bench/compare_precision.sh 5 build/deepslide
#   bash bench/compare_precision.sh 5 build/deepslide --batch 16 --size 224 --threads 2 --iters 5
set -euo pipefail
source "$(dirname "$0")/stats.sh"
if [ $# -lt 2 ]; then
  echo "usage: $0 ROUNDS DEEPSLIDE [bench flags...]" >&2
  exit 2
fi
rounds=$1 bin=$2
shift 2
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(--batch 16 --size 224 --threads 2 --iters 5 --warmup 1)
precisions=${PRECISIONS:-fp32 bf16 int8}
declare -A res
for r in $(seq "$rounds"); do
  for p in $precisions; do
    algo=()
    [[ $p == */* ]] && algo=(--conv-algo "${p#*/}")
    v=$("$bin" bench --mode infer --precision "${p%%/*}" ${algo[@]+"${algo[@]}"} "${flags[@]}" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["ms_per_batch"])')
    echo "round $r $p: $v ms/batch" >&2
    res[$p]+="$v "
  done
done
read -r m32 lo32 hi32 < <(echo "${res[fp32]}" | median_min_max)
for p in $precisions; do
  read -r m lo hi < <(echo "${res[$p]}" | median_min_max)
  printf '%s: median %.1f ms/batch (min %.1f max %.1f)\n' "$p" "$m" "$lo" "$hi"
  [ "$p" = fp32 ] || python3 -c "print('ratio fp32/$p (medians): %.2fx' % ($m32 / $m))"
done
