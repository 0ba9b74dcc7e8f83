#!/usr/bin/env bash
# make demo: the whole DeepSlide pipeline on a synthetic dataset, sized for a few minutes on
# 2 cores: synth -> split -> train -> predict (val, test) -> search -> evaluate -> visualize ->
# report. Prints the slide-level test accuracy and where the report is. Re-running redoes every
# stage (delete DEMO_DIR to start clean). Until `deepslide run` lands this chains the commands.
set -euo pipefail
BIN=${DEEPSLIDE:-build/deepslide}
DIR=${DEMO_DIR:-demo}
WIN=(--patch-size 32 --level 2)
t0=$(date +%s)
stage() { echo; echo "=== $* ($(( $(date +%s) - t0 )) s)"; }

stage "1/8 synthetic slides"
"$BIN" synth --out "$DIR/all_wsi" --classes 3 --slides-per-class 14 --width 3000 --height 2400 --seed 7
stage "2/8 split"
"$BIN" split --all-wsi "$DIR/all_wsi" --out "$DIR" --val-per-class 3 --test-per-class 3
stage "3/8 train"
rm -rf "$DIR/train"
"$BIN" train --all-wsi "$DIR/all_wsi" --labels-train "$DIR/labels_train.csv" --labels-val "$DIR/labels_val.csv" \
  "${WIN[@]}" --num-train-per-class 600 --epochs 4 --batch-size 16 --seed 1 --out "$DIR/train"
MODEL="$DIR/train/best.safetensors"
stage "4/8 predict (validation and test slides)"
for s in val test; do
  "$BIN" predict --model "$MODEL" --all-wsi "$DIR/all_wsi" --labels "$DIR/labels_$s.csv" "${WIN[@]}" --overlap 2 \
    --out "$DIR/preds_$s" --force
done
stage "5/8 search (slide-level aggregator on validation slides)"
"$BIN" search --preds "$DIR/preds_val" --labels "$DIR/labels_val.csv" --out "$DIR/inference_val"
stage "6/8 evaluate (test slides)"
"$BIN" evaluate --preds "$DIR/preds_test" --labels "$DIR/labels_test.csv" \
  --aggregator "$DIR/inference_val/aggregator.json" --out "$DIR/eval"
stage "7/8 visualize"
"$BIN" visualize --all-wsi "$DIR/all_wsi" --labels "$DIR/labels_test.csv" --preds "$DIR/preds_test" \
  --out "$DIR/vis_test" --gradcam 1 --model "$MODEL"
stage "8/8 report"
"$BIN" report --run "$DIR" --eval "$DIR/eval" --search "$DIR/inference_val" --preds "$DIR/preds_test" \
  --vis "$DIR/vis_test" --log "$DIR/train/log.csv" --out "$DIR/report.html"

acc=$(/usr/bin/env python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(f\"{m['accuracy']:.4f} (mean class accuracy {m['mean_class_accuracy']:.4f})\")" "$DIR/eval/metrics.json" 2>/dev/null || grep -o '"accuracy": *[0-9.]*' "$DIR/eval/metrics.json")
echo
echo "demo finished in $(( $(date +%s) - t0 )) s"
echo "slide-level test accuracy: $acc"
echo "report: $DIR/report.html"
