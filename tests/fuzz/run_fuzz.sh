#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each in turn.
#
#   bash tests/fuzz/run_fuzz.sh [SECONDS] [TARGET...]   every target (or those named) for SECONDS
#                                                       each (default FUZZ_TIME, else 60): `make fuzz`;
#                                                       FUZZ_JOBS targets at a time (default: the cores)
#   bash tests/fuzz/run_fuzz.sh --ci                    every target for FUZZ_CI_TIME (default 20) s:
#                                                       `make fuzz-ci`, the fuzz step of .ci/run
#   bash tests/fuzz/run_fuzz.sh --list                  the target names
#
# A target is tests/fuzz/fuzz_<name>.cpp; its seeds are tests/fuzz/seeds/<name>/ (committed;
# tests/fuzz/make_seeds.py writes them). The build is CMake's own (-DDEEPSLIDE_FUZZ=ON in
# FUZZ_BUILD, default build-fuzz/): every layer library from its folder, as in the normal build,
# compiled by clang through ccache, so a rerun rebuilds only what changed. New inputs go to
# FUZZ_BUILD/corpus/<name>/ (kept between runs, so longer fuzzing accumulates); a crash, leak,
# timeout or out-of-memory input goes to FUZZ_BUILD/findings/<name>-*, and the script exits 1
# after running the remaining targets. To keep a finding as a regression test, fix it and copy
# the input to tests/fuzz/seeds/<name>/regress_<what>: ctest replays every seed (fuzz_<name>_seeds).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="${FUZZ_BUILD:-$SRC/build-fuzz}"
cd "$SRC"
TARGETS_ALL="$(for f in tests/fuzz/fuzz_*.cpp; do n="$(basename "$f" .cpp)"; [ "$n" = fuzz_replay_main ] || echo "${n#fuzz_}"; done)"

TIME="${FUZZ_TIME:-60}"
case "${1:-}" in
  --list) echo "$TARGETS_ALL"; exit 0 ;;
  --ci) TIME="${FUZZ_CI_TIME:-20}"; shift ;;
  [0-9]*) TIME="$1"; shift ;;
esac
TARGETS="${*:-$TARGETS_ALL}"

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found; run scripts/install-deps.sh --fuzz" >&2
  exit 1
fi

start=$(date +%s)
launcher=()
if command -v ccache >/dev/null; then
  # Paths below the source tree are hashed relative to it, and the working directory is left
  # out (-gline-tables-only is debug info): a fresh clone in another folder hits the cache.
  export CCACHE_BASEDIR="$SRC" CCACHE_NOHASHDIR=true
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f "$OUT/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S "$SRC" -B "$OUT" -DCMAKE_BUILD_TYPE=Release -DDEEPSLIDE_FUZZ=ON \
    -DDEEPSLIDE_BENCH=OFF "${launcher[@]}" >/dev/null
fi
targets=()
for t in $TARGETS; do targets+=(--target "fuzz_$t"); done
cmake --build "$OUT" -j "${JOBS:-$(nproc)}" "${targets[@]}"
built=$(date +%s)
echo "fuzz: built in $((built - start)) s"

mkdir -p "$OUT/findings"
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMP_NUM_THREADS=1
failed=""
# One target: exit 1 (its log's tail on stderr) on a finding; its summary lines on stdout.
fuzz_one() {
  local t="$1" max_len=()
  mkdir -p "$OUT/corpus/$t"
  [ "$t" = slide ] && max_len=(-max_len=200000)  # the crafted hostile TIFF seeds are up to 33 KB
  local rc=0
  "$OUT/fuzz_$t" "$OUT/corpus/$t" "tests/fuzz/seeds/$t" -max_total_time="$TIME" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 "${max_len[@]}" -print_final_stats=1 \
    -artifact_prefix="$OUT/findings/$t-" 2>"$OUT/$t.log" || rc=1
  [ $rc = 0 ] || tail -n 60 "$OUT/$t.log" >&2
  grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)" \
    "$OUT/$t.log" | sed "s/^/fuzz: $t: /" || true
  return $rc
}

# Each target is one single-threaded process: FUZZ_JOBS (default: the cores) of them at a time.
jobs_max="${FUZZ_JOBS:-$(nproc)}"
declare -A running=()  # pid -> target
wait_one() {  # bash 5.1's wait -n -p: which job ended, with its status
  local pid rc=0
  wait -n -p pid || rc=$?
  [ "$rc" = 0 ] || failed="$failed ${running[$pid]}"
  unset "running[$pid]"
}
for t in $TARGETS; do
  while [ "${#running[@]}" -ge "$jobs_max" ]; do wait_one; done
  echo "fuzz: $t for $TIME s"
  fuzz_one "$t" &
  running[$!]="$t"
done
while [ "${#running[@]}" -gt 0 ]; do wait_one; done
echo "fuzz: ran for $(( $(date +%s) - built )) s, $(( $(date +%s) - start )) s in all"
if [ -n "$failed" ]; then
  echo "fuzz: FAILED:$failed (inputs in $OUT/findings/)" >&2
  exit 1
fi
echo "fuzz: no findings"
