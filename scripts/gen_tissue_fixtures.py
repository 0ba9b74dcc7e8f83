#!/usr/bin/python3
"""Writes tests/fixtures/tissue/: small RGB patches with the purple-block counts that DeepSlide's
is_purple computes on them (skimage.measure.block_reduce with np.average, as DeepSlide calls it),
and a thumbnail with the tissue mask and Otsu threshold that OpenCV computes the way CLAM does
(RGB->HSV, saturation, medianBlur 7, THRESH_OTSU). These are outside oracles for
slide/windows/tissue_filter.cpp; used only here, never at run time.

Needs Debian python3-numpy python3-pil python3-skimage python3-opencv
(`bash scripts/install-deps.sh --fixtures`). Run: /usr/bin/python3 scripts/gen_tissue_fixtures.py
Deterministic: re-running reproduces the committed files.
"""
import json
import os

import cv2
import numpy as np
from PIL import Image
from skimage.measure import block_reduce

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "tissue")
os.makedirs(OUT, exist_ok=True)
rng = np.random.RandomState(1234)

PINK = np.array([230, 150, 200], np.float64)
PURPLE = np.array([120, 60, 160], np.float64)
WHITE = np.array([245, 245, 245], np.float64)


def he_patch(h, w, coverage):
    """White glass with a tissue region covering about `coverage` of the patch: pink stroma with
    purple nuclei. Returns uint8 HxWx3."""
    img = np.empty((h, w, 3), np.float64)
    img[:] = WHITE
    yy, xx = np.mgrid[0:h, 0:w]
    # Tissue: the part of the patch left of a wavy boundary.
    edge = coverage * w + 0.08 * w * np.sin(yy / max(4.0, h / 6.0) + rng.uniform(0, 6))
    tissue = xx < edge
    img[tissue] = PINK
    for _ in range(int(coverage * h * w / 80)):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(1.5, 4)
        img[((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) & tissue] = PURPLE
    img += rng.normal(0, 2, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def deepslide_purple_count(crop, scale):
    pooled = block_reduce(crop, block_size=(crop.shape[0] // scale, crop.shape[1] // scale, 1),
                          func=np.average)
    sel = pooled[(pooled[..., 0] > pooled[..., 1] - 10) & (pooled[..., 2] > pooled[..., 1] - 10) &
                 (((pooled[..., 0] + pooled[..., 2]) / 2) > pooled[..., 1] + 20)]
    return int(sel.shape[0])


patches = []
sizes = [(224, 224, 0.38), (224, 224, 0.42), (224, 224, 0.05), (224, 224, 0.9), (130, 100, 0.5),
         (61, 97, 0.45), (45, 30, 0.6), (160, 224, 0.4)]
for i, (h, w, frac) in enumerate(sizes):
    img = he_patch(h, w, frac)
    name = f"patch_{i}.png"
    Image.fromarray(img).save(os.path.join(OUT, name), optimize=True)
    patches.append({"file": name, "width": w, "height": h,
                    "purple_count_scale15": deepslide_purple_count(img, 15),
                    "purple_count_scale7": deepslide_purple_count(img, 7)})

# Thumbnail: tissue islands on glass.
h, w = 90, 120
thumb = np.empty((h, w, 3), np.float64)
thumb[:] = WHITE
yy, xx = np.mgrid[0:h, 0:w]
for cy, cx, ry, rx in [(30, 35, 18, 25), (60, 85, 20, 22), (75, 20, 8, 10)]:
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    thumb[inside] = np.where(rng.uniform(size=(inside.sum(), 1)) < 0.3, PURPLE, PINK)
thumb += rng.normal(0, 4, thumb.shape)
thumb = np.clip(np.rint(thumb), 0, 255).astype(np.uint8)
Image.fromarray(thumb).save(os.path.join(OUT, "thumb.png"), optimize=True)
sat = cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV)[:, :, 1]
med = cv2.medianBlur(sat, 7)
t, mask = cv2.threshold(med, 0, 255, cv2.THRESH_OTSU + cv2.THRESH_BINARY)
Image.fromarray(mask).save(os.path.join(OUT, "thumb_mask.png"), optimize=True)
Image.fromarray(sat).save(os.path.join(OUT, "thumb_saturation.png"), optimize=True)

with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump({"patches": patches, "thumb": {"file": "thumb.png", "mask": "thumb_mask.png",
               "saturation": "thumb_saturation.png", "otsu_threshold": int(t)}}, f, indent=1)
    f.write("\n")
print("wrote", OUT)
