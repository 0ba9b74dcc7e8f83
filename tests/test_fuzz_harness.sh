#!/usr/bin/env bash
# The fuzz targets (tests/fuzz, `make fuzz`) cannot rot unseen: ctest builds each with g++ and
# replays its committed seeds (fuzz_<name>_seeds); this test checks what those cannot: that
# run_fuzz.sh parses and lists exactly the targets there are, that each target names the layers it
# links and has seeds, and that the seeds stay small (the whole set under 1 MB).
set -euo pipefail
SRC="${DS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$SRC"
bash -n tests/fuzz/run_fuzz.sh
listed="$(bash tests/fuzz/run_fuzz.sh --list | sort)"
found="$(for f in tests/fuzz/fuzz_*.cpp; do n="$(basename "$f" .cpp)"; [ "$n" = fuzz_replay_main ] || echo "${n#fuzz_}"; done | sort)"
[ "$listed" = "$found" ] || { echo "run_fuzz.sh --list: $listed, expected $found"; exit 1; }
n=0
for t in $found; do
  grep -q "^// fuzz-links: ds_" "tests/fuzz/fuzz_$t.cpp" || { echo "fuzz_$t.cpp: no '// fuzz-links:' line"; exit 1; }
  count="$(find "tests/fuzz/seeds/$t" -type f | wc -l)"
  [ "$count" -gt 0 ] || { echo "tests/fuzz/seeds/$t: no seeds"; exit 1; }
  echo "fuzz target $t: $count seeds"
  n=$((n + 1))
done
bytes="$(find tests/fuzz/seeds -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')"
echo "fuzz seeds: $bytes bytes"
[ "$bytes" -lt 1000000 ] || { echo "fuzz seeds take $bytes bytes, over 1 MB"; exit 1; }
echo "fuzz harness: $n targets checked"
