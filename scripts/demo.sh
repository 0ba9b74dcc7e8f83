#!/usr/bin/env bash
# make demo: the whole DeepSlide pipeline on synthetic slides, a few minutes on 2 cores.
# Writes the slides once (deepslide synth, skipped when demo/all_wsi exists), then
# `deepslide run --config configs/demo.toml --workdir demo`, which prints each stage, the
# slide-level test accuracy and where the report is. A rerun skips the stages that are up to
# date; DEMO_RUN_FLAGS=--force redoes them, deleting demo/ starts from scratch.
set -euo pipefail
BIN=${DEEPSLIDE:-build/deepslide}
if [ ! -d demo/all_wsi ]; then
  echo "=== synthetic slides: 3 classes x 14 slides, 3000 x 2400 -> demo/all_wsi"
  rm -rf demo/all_wsi.tmp
  "$BIN" synth --out demo/all_wsi.tmp --classes 3 --slides-per-class 14 --width 3000 --height 2400 --seed 7
  mv demo/all_wsi.tmp demo/all_wsi
fi
# shellcheck disable=SC2086
"$BIN" run --config configs/demo.toml --workdir demo ${DEMO_RUN_FLAGS:-}
