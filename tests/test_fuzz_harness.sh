#!/usr/bin/env bash
# The slide-reader fuzz harness (tests/fuzz, `make fuzz`) still builds from its source list and
# runs its seeds: built with g++ here, so CI needs no clang (run_fuzz.sh --check).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
out="$(FUZZ_BUILD="$OUT" bash "$SRC/tests/fuzz/run_fuzz.sh" --check)"
echo "$out"
echo "$out" | grep -q "fuzz harness: ran [1-9]"
