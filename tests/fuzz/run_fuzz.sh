#!/usr/bin/env bash
# `make fuzz`: builds the slide-reader libFuzzer harness with clang (ASan + UBSan) and runs it for
# FUZZ_TIME seconds (default 60) on a seed corpus of small slides written here by vips (JPEG,
# LZW, Deflate, BigTIFF, SubIFD, stripped) plus PNG/JPEG. Exits non-zero on any finding.
# `run_fuzz.sh --check` (a ctest, tests/test_fuzz_harness.sh) builds the harness with g++ instead,
# without libFuzzer or sanitizers, and runs it once on each seed: the harness cannot rot unseen.
set -euo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="${FUZZ_BUILD:-$SRC/build-fuzz}"
CHECK=0
if [ "${1:-}" = "--check" ]; then
  CHECK=1
  shift
fi
TIME="${1:-${FUZZ_TIME:-60}}"
mkdir -p "$OUT/corpus" "$OUT/seeds" "$OUT/findings"
if [ "$CHECK" = 0 ] && ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found; run scripts/install-deps.sh --fuzz" >&2
  exit 1
fi
STB="$(dirname "$(find /usr/include -name stb_image.h | head -1)")"
# The harness links the slide-reader layer and the base below it, nothing else (docs/design.md).
cd "$SRC"
SOURCES="$(ls slide/reader/*.cpp base/*.cpp) tests/fuzz/fuzz_slide.cpp"
if [ "$CHECK" = 1 ]; then
  # shellcheck disable=SC2086
  g++ -std=c++20 -O1 -fopenmp -I"$SRC" -I"$STB" $SOURCES tests/fuzz/fuzz_replay_main.cpp \
    -o "$OUT/fuzz_slide_check" -ltiff -ljpeg $(pkg-config --cflags --libs libopenjp2)
else
  # shellcheck disable=SC2086
  clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -fopenmp -I"$SRC" -I"$STB" $SOURCES -o "$OUT/fuzz_slide" -ltiff -ljpeg $(pkg-config --cflags --libs libopenjp2)
fi
if [ ! -f "$OUT/seeds/jpeg128.tif" ]; then
  /usr/bin/python3 - "$OUT/seeds" <<'PY'
import os, sys, subprocess, numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(0)
img = rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)
Image.fromarray(img).save(f"{d}/s.png")
Image.fromarray(img).save(f"{d}/s.jpg", quality=70)
for name, opts in [("jpeg", ["--compression", "jpeg"]), ("lzw", ["--compression", "lzw"]),
                   ("deflate", ["--compression", "deflate", "--bigtiff"]),
                   ("subifd", ["--compression", "jpeg", "--subifd"])]:
    subprocess.run(["vips", "tiffsave", f"{d}/s.png", f"{d}/{name}.tif", "--tile", "--pyramid",
                    "--tile-width", "32", "--tile-height", "32", *opts], check=True)
subprocess.run(["vips", "tiffsave", f"{d}/s.png", f"{d}/strip.tif", "--compression", "lzw"], check=True)
# Tiles of several MCU rows and columns, so partial reads cut JPEG tiles (slide/reader/jpeg_crop.cpp).
big = rng.integers(0, 256, (260, 300, 3), dtype=np.uint8)
Image.fromarray(big).save(f"{d}/big.png")
subprocess.run(["vips", "tiffsave", f"{d}/big.png", f"{d}/jpeg128.tif", "--tile", "--compression", "jpeg",
                "--tile-width", "128", "--tile-height", "128"], check=True)
os.remove(f"{d}/big.png")
PY
fi
if [ "$CHECK" = 1 ]; then
  OMP_NUM_THREADS=1 "$OUT/fuzz_slide_check" "$OUT"/seeds/*
  exit 0
fi
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMP_NUM_THREADS=1
"$OUT/fuzz_slide" "$OUT/corpus" "$OUT/seeds" -max_total_time="$TIME" -timeout=10 -rss_limit_mb=2048 \
  -malloc_limit_mb=1024 -max_len=200000 -print_final_stats=1 -artifact_prefix="$OUT/findings/"
