#!/bin/bash
# Writes a hospital-sized test slide (issue 28): 96315 x 75045 px (7.2 Gpx, a 40x scan's size),
# 256-px JPEG tiles, a pyramid, BigTIFF, written by libvips. A 5 x 5 grid of 19263 x 15009 cells,
# 8 of them holding one of two synthetic H&E slides (deepslide synth, 0.25 um/px) and the rest
# white, so most of the slide is background as on a real scan.
#   bench/make_big_slide.sh DEEPSLIDE_BINARY OUT_DIR     -> OUT_DIR/big.tif (about 0.3 GB)
# Needs libvips-tools and about 3 GB of scratch space in OUT_DIR (removed at the end).
set -euo pipefail
ds=${1:?usage: make_big_slide.sh DEEPSLIDE_BINARY OUT_DIR}
out=${2:?usage: make_big_slide.sh DEEPSLIDE_BINARY OUT_DIR}
mkdir -p "$out"
cd "$out"
"$ds" synth --out src --classes 2 --slides-per-class 1 --width 12000 --height 9000 --seed 11 --mpp 0.25 >/dev/null
w=19263 h=15009
vips black white.v $w $h --bands 3
vips linear white.v white_u8.v 1 255 --uchar
i=0
for s in src/*/*.tif; do
  # Level 0 of the synthetic slide, centred in a white cell.
  vips tiffload "$s" tissue$i.v --page 0
  sw=$(vipsheader -f width tissue$i.v)
  sh=$(vipsheader -f height tissue$i.v)
  vips embed tissue$i.v cell$i.v $(((w - sw) / 2)) $(((h - sh) / 2)) $w $h --extend white
  i=$((i + 1))
done
cells=()
n=0
for k in $(seq 0 24); do
  case $k in
    1 | 3 | 7 | 11 | 13 | 17 | 21 | 23) cells+=("cell$((n++ % 2)).v") ;;
    *) cells+=("white_u8.v") ;;
  esac
done
vips arrayjoin "${cells[*]}" big.tif[tile,pyramid,compression=jpeg,Q=90,tile-width=256,tile-height=256,bigtiff] \
  --across 5
rm -rf white.v white_u8.v tissue*.v cell*.v src
vipsheader big.tif
