#!/usr/bin/env bash
# The demo's stain check over several training seeds (BENCHMARKS.md, "Stain: the demo's check"):
# for each seed, the demo's config as it is (HED stain jitter) and with its colour handling
# replaced (as scripts/demo.sh does): none, Macenko fitted per slide, DeepSlide's ColorJitter;
# each scored on the demo's new slides in the home stain and in another lab's (run `make demo`
# first: it writes demo/stain/new_home, new_shifted and labels_new.csv). Prints one line per
# model, set and seed.
#   bash bench/stain_demo_seeds.sh [OUT_DIR] [SEEDS...]      (default /tmp/ds_stain_seeds, 1 2 3)
# ONLY="plain hed" trains only the models named.
set -euo pipefail
BIN=${DEEPSLIDE:-build/deepslide}
OUT=${1:-/tmp/ds_stain_seeds}
shift || true
SEEDS=("$@")
[ ${#SEEDS[@]} -eq 0 ] && SEEDS=(1 2 3)
for seed in "${SEEDS[@]}"; do  # a seed goes into a sed expression and file names: digits only
  [[ $seed =~ ^[0-9]{1,9}$ ]] || { echo "stain_demo_seeds.sh: a seed must be a number, not '${seed:0:40}'" >&2; exit 2; }
done
S=demo/stain
[ -f $S/labels_new.csv ] || { echo "stain_demo_seeds.sh: run make demo first ($S/labels_new.csv is missing)" >&2; exit 1; }
# shellcheck source=scripts/stain_models.sh
source "$(dirname "$0")/../scripts/stain_models.sh"
mkdir -p "$OUT"
for seed in "${SEEDS[@]}"; do
  for m in "hed|" "${STAIN_MODELS[@]}"; do
    IFS='|' read -r name keys _ <<<"$m"
    [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]] && continue
    run=$OUT/$name.s$seed
    if [ "$name" = hed ]; then  # the demo's config as it is
      sed -e "s/^seed = .*/seed = $seed/" configs/demo.toml >"$run.toml"
    else
      stain_config "$keys" "$seed" >"$run.toml"
    fi
    "$BIN" run --config "$run.toml" --workdir "$run" --until evaluate >"$run.log" 2>&1
    for set in new_home new_shifted; do
      "$BIN" predict --model "$run/bundle.safetensors" --all-wsi $S/$set --labels $S/labels_new.csv \
        --out "$run.$set/preds" --quiet >/dev/null 2>>"$run.log"
      "$BIN" evaluate --preds "$run.$set/preds" --labels $S/labels_new.csv \
        --aggregator "$run/inference_val/aggregator.json" --out "$run.$set/eval" >/dev/null
      /usr/bin/python3 -c "import json, sys; d = json.load(open(sys.argv[1]))
print('seed $seed  $name  $set  slides %.3f  windows %.3f' % (d['accuracy'], d['window_accuracy']))" "$run.$set/eval/metrics.json"
    done
  done
done
