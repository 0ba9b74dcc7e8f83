#!/usr/bin/python3
"""Writes tests/fixtures/augment/: a small H&E-like RGB patch and what torchvision's functional
transforms (on PIL images, as DeepSlide's training pipeline applies them) make of it for fixed
factors: adjust_brightness/contrast/saturation/hue, hflip, vflip and PIL rotate by 90/180/270.
The oracle for train/augment.cpp. Run: /usr/bin/python3 scripts/gen_augment_fixtures.py
(Debian python3-torchvision, python3-pil, python3-numpy); deterministic."""
import json
import os

import numpy as np
import torchvision.transforms.functional as F
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "augment")
os.makedirs(OUT, exist_ok=True)
rng = np.random.RandomState(7)
h, w = 24, 32
img = np.empty((h, w, 3), np.float64)
img[:] = [232, 150, 205]
img[:, : w // 3] = [245, 244, 246]
yy, xx = np.mgrid[0:h, 0:w]
for _ in range(8):
    cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(1.5, 4)
    img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = [110, 55, 160]
img += rng.normal(0, 12, img.shape)
img[0, 0] = [0, 0, 0]
img[0, 1] = [255, 255, 255]
img[0, 2] = [255, 0, 0]
img[0, 3] = [0, 255, 0]
img[0, 4] = [0, 0, 255]
img[0, 5] = [128, 128, 128]
src = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8))
src.save(os.path.join(OUT, "input.png"))

cases = []
def add(name, op, factor, im):
    fname = f"{name}.png"
    im.save(os.path.join(OUT, fname))
    cases.append({"op": op, "factor": factor, "file": fname})

for f in [0.5, 0.77, 1.0, 1.3, 1.5]:
    add(f"brightness_{f}", "brightness", f, F.adjust_brightness(src, f))
    add(f"contrast_{f}", "contrast", f, F.adjust_contrast(src, f))
    add(f"saturation_{f}", "saturation", f, F.adjust_saturation(src, f))
for f in [-0.2, -0.13, -0.05, 0.0, 0.07, 0.15, 0.2]:
    add(f"hue_{f}", "hue", f, F.adjust_hue(src, f))
add("hflip", "hflip", 0, F.hflip(src))
add("vflip", "vflip", 0, F.vflip(src))
# DeepSlide's Random90Rotation calls PIL's rotate(), which is an exact transpose for square
# patches (the only kind it sees); the square crop is stored as its own input.
square = src.crop((0, 0, h, h))
square.save(os.path.join(OUT, "input_square.png"))
for d in [90, 180, 270]:
    add(f"rot{d}", "rot90", d // 90, square.rotate(d))
with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump({"input": "input.png", "input_square": "input_square.png", "cases": cases}, f, indent=1)
    f.write("\n")
print("wrote", len(cases), "cases to", OUT)
