# shellcheck shell=bash
# The stain check's models (sourced by scripts/demo.sh and bench/stain_demo_seeds.sh): each is
# configs/demo.toml with its colour handling (stain_aug, color_jitter_*) replaced, so the models
# differ only in how they treat colour. STAIN_MODELS: name|[train] keys|the report's label.
NO_JITTER='color_jitter_brightness = 0\ncolor_jitter_contrast = 0\ncolor_jitter_saturation = 0\ncolor_jitter_hue = 0'
# shellcheck disable=SC2034  # used by the scripts that source this file
STAIN_MODELS=(
  "plain|$NO_JITTER|no colour augmentation, no normalisation"
  "macenko|$NO_JITTER\nstain_norm = \"macenko\"\nstain_fit = \"slide\"|stain_norm = macenko, fitted per slide"
  "jitter|# DeepSlide's ColorJitter: the flags' defaults|DeepSlide's ColorJitter (brightness, contrast, saturation 0.5, hue 0.2)"
)
# stain_config KEYS [SEED]: the demo's config with its colour lines replaced by KEYS (and its
# training seed by SEED), on stdout.
stain_config() {
  local seed_expr=""
  [ -n "${2:-}" ] && seed_expr="s/^seed = .*/seed = $2/"
  sed -e "$seed_expr" -e '/^stain_aug *=/d' -e '/^color_jitter_/d' -e "/^\[train\]/a $1" configs/demo.toml
}
