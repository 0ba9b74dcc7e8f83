#!/usr/bin/env bash
# make demo: the whole DeepSlide pipeline on synthetic slides, a few minutes on 2 cores.
# Writes the slides once (deepslide synth, skipped when demo/all_wsi exists), then
# `deepslide run --config configs/demo.toml --workdir demo`, which prints each stage, the
# slide-level test accuracy and where the report is. A rerun skips the stages that are up to
# date; DEMO_RUN_FLAGS=--force redoes them, deleting demo/ starts from scratch.
# Then the stain check (issue 24): three more models trained like the demo's (which uses HED
# stain jitter) but with other colour handling: none at all, Macenko normalisation fitted per
# slide, and DeepSlide's ColorJitter (demo/stain/<name>); new test slides drawn with a seed no
# training used, once with the home lab's stain and once with another lab's (synth --stain-shift
# 1); all four models scored on both, and the table added to demo/report.html (report --compare).
# DEMO_STAIN=0 leaves it out.
set -euo pipefail
BIN=${DEEPSLIDE:-build/deepslide}
synth() {  # synth FOLDER FLAGS...: written once, under a temporary name until complete
  local out=$1
  shift
  [ -d "$out" ] && return 0
  rm -rf "$out.tmp"
  "$BIN" synth --out "$out.tmp" "$@"
  mv "$out.tmp" "$out"
}
if [ ! -d demo/all_wsi ]; then
  echo "=== synthetic slides: 3 classes x 14 slides, 3000 x 2400 -> demo/all_wsi"
  synth demo/all_wsi --classes 3 --slides-per-class 14 --width 3000 --height 2400 --seed 7
fi
# shellcheck disable=SC2086
"$BIN" run --config configs/demo.toml --workdir demo ${DEMO_RUN_FLAGS:-}
[ "${DEMO_STAIN:-1}" = 0 ] && exit 0

S=demo/stain
mkdir -p "$S"
# shellcheck source=scripts/stain_models.sh
source "$(dirname "$0")/stain_models.sh"
for m in "${STAIN_MODELS[@]}"; do
  IFS='|' read -r name keys _ <<<"$m"
  echo "=== stain check: the demo's training with $(printf '%b' "$keys" | tr '\n' ' ')-> $S/$name"
  stain_config "$keys" >"$S/$name.toml"
  # shellcheck disable=SC2086
  "$BIN" run --config "$S/$name.toml" --workdir "$S/$name" --until evaluate ${DEMO_RUN_FLAGS:-}
  cmp -s demo/labels_test.csv "$S/$name/labels_test.csv" || {
    echo "demo.sh: the $name run split the slides differently from demo/ (labels_test.csv differ)" >&2
    exit 1
  }
done
echo "=== stain check: 3 new slides per class (seed 11, never trained on), home stain and --stain-shift 1"
synth "$S/new_home" --classes 3 --slides-per-class 3 --width 3000 --height 2400 --seed 11
synth "$S/new_shifted" --classes 3 --slides-per-class 3 --width 3000 --height 2400 --seed 11 --stain-shift 1
{
  echo img,gt
  for d in "$S"/new_home/*/; do
    c=$(basename "$d")
    for f in "$d"*; do echo "$c/$(basename "$f"),$c"; done
  done
} >"$S/labels_new.csv"
# Each model through its bundle (its window recipe, stain normalisation included) and the
# aggregator its own search chose on the validation slides.
compare=()
for m in "demo|-|stain_aug = hed (the demo's model)" "${STAIN_MODELS[@]}"; do
  IFS='|' read -r name _ label <<<"$m"
  run=$S/$name
  [ "$name" = demo ] && run=demo
  compare+=("--compare=$label, demo test slides=$run/inference_test")
  for set in new_home new_shifted; do
    out=$S/$name.$set
    # Redone when the bundle, the slides or the binary is newer than the evaluation.
    if [ ! -f "$out/eval/metrics.json" ] || [ "$run/bundle.safetensors" -nt "$out/eval/metrics.json" ] ||
      [ "$S/$set" -nt "$out/eval/metrics.json" ] || [ "$(command -v "$BIN")" -nt "$out/eval/metrics.json" ]; then
      "$BIN" predict --model "$run/bundle.safetensors" --all-wsi "$S/$set" --labels "$S/labels_new.csv" \
        --out "$out/preds" --quiet >/dev/null
      "$BIN" evaluate --preds "$out/preds" --labels "$S/labels_new.csv" \
        --aggregator "$run/inference_val/aggregator.json" --out "$out/eval" >/dev/null
    fi
    what="new slides, home stain"
    [ $set = new_shifted ] && what="the same new slides, another lab's stain (--stain-shift 1)"
    compare+=("--compare=$label, $what=$out/eval")
  done
done
# The pipeline's report again (the report stage's own arguments) with the table, which it also prints.
echo "=== stain check: accuracy of the four models, also in demo/report.html"
"$BIN" report --run demo --eval demo/inference_test --search demo/inference_val --preds demo/preds_test \
  --vis demo/vis_test --log demo/log.csv --out demo/report.html \
  --compare-title "Stain shift: stain augmentation, none, stain normalisation, ColorJitter" "${compare[@]}"
