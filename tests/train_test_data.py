"""Small generated patch folders for the training tests (DeepSlide's train/val/<class> layout):
class "dense" patches hold many dark nuclei-like dots on a pink background, class "sparse" few,
so a small ResNet learns them in a few epochs even under colour jitter, flips and rotations."""
import os

import numpy as np
from PIL import Image


def make_patch_folder(root, size=32, train_per_class=48, val_per_class=16, seed=1):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    for split, n in (("train", train_per_class), ("val", val_per_class)):
        for cls, dots in (("dense", (14, 22)), ("sparse", (0, 3))):
            d = os.path.join(root, split, cls)
            os.makedirs(d, exist_ok=True)
            for i in range(n):
                base = np.array([230, 170, 200]) + rng.normal(0, 8, 3)
                img = base + rng.normal(0, 10, (size, size, 3))
                for _ in range(int(rng.integers(dots[0], dots[1] + 1))):
                    cy, cx, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(1.5, 3.0)
                    m = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
                    img[m] = np.array([90, 40, 120]) + rng.normal(0, 10, 3)
                img = np.clip(img, 0, 255).astype(np.uint8)
                Image.fromarray(img).save(os.path.join(d, f"{cls}_{i:03d}.png"))
