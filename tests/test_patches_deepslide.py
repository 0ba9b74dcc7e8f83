#!/usr/bin/python3
"""`deepslide patches` on plain JPEG slides selects exactly the windows DeepSlide's own code
selects. The oracle below restates DeepSlide's produce_patches/find_patch/is_purple (image read
with PIL as imageio does; block_reduce restated with numpy: zero padding at the far edges, block
mean) and is compared with the file names we write (ours: x = column; DeepSlide's: row first).
Run by ctest with DEEPSLIDE set to the binary."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

DEEPSLIDE = os.environ.get("DEEPSLIDE", "build/deepslide")


def block_reduce_mean(img, bh, bw):
    h, w, c = img.shape
    ph, pw = (-h) % bh, (-w) % bw
    padded = np.pad(img.astype(np.float64), ((0, ph), (0, pw), (0, 0)), constant_values=0)
    return padded.reshape((h + ph) // bh, bh, (w + pw) // bw, bw, c).mean(axis=(1, 3))


def is_purple(crop, scale=15, threshold=100):
    pooled = block_reduce_mean(crop, crop.shape[0] // scale, crop.shape[1] // scale)
    r, g, b = pooled[..., 0], pooled[..., 1], pooled[..., 2]
    return int(((r > g - 10) & (b > g - 10) & ((r + b) / 2 > g + 20)).sum()) > threshold


def deepslide_windows(image, patch, overlap):
    x_steps = int((image.shape[0] - patch) / patch * overlap) + 1
    y_steps = int((image.shape[1] - patch) / patch * overlap) + 1
    step = int(patch / overlap)
    kept = set()
    for x in range(0, x_steps * step, step):
        for y in range(0, y_steps * step, step):
            if is_purple(image[x:x + patch, y:y + patch, :]):
                kept.add((y, x))  # (column, row)
    return kept


def make_slide(path, h, w, seed):
    rng = np.random.RandomState(seed)
    img = np.full((h, w, 3), 244.0)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(3):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(80, 220)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[inside] = [230, 150, 200]
    for _ in range(int(h * w / 400)):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, 5)
        sl = (slice(max(0, int(cy - r)), int(cy + r) + 1), slice(max(0, int(cx - r)), int(cx + r) + 1))
        if img[int(min(cy, h - 1)), int(min(cx, w - 1)), 1] < 200:
            img[sl] = [120, 60, 160]
    img += rng.normal(0, 4, img.shape)
    Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8)).save(path, quality=85)


def run(args):
    p = subprocess.run([DEEPSLIDE] + args, capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        sys.exit(f"deepslide {' '.join(args)} failed with {p.returncode}")
    return p


def main():
    tmp = tempfile.mkdtemp(prefix="ds_patches_")
    os.makedirs(f"{tmp}/wsi/a")
    os.makedirs(f"{tmp}/wsi/n")
    make_slide(f"{tmp}/wsi/a/s1.jpg", 700, 900, 1)
    make_slide(f"{tmp}/wsi/n/s2.jpg", 517, 613, 2)
    with open(f"{tmp}/labels.csv", "w") as f:
        f.write("img,gt\na/s1.jpg,a\nn/s2.jpg,n\n")
    failures = 0
    kept_total = dropped_total = 0
    for by_folder, overlap in [(False, 1.5), (True, 3.0)]:
        out = f"{tmp}/out_{int(by_folder)}"
        args = ["patches", "--all-wsi", f"{tmp}/wsi", "--labels", f"{tmp}/labels.csv", "--out", out]
        if by_folder:
            args.append("--by-folder")
        run(args)
        for cls, stem in [("a", "s1"), ("n", "s2")]:
            image = np.asarray(Image.open(f"{tmp}/wsi/{cls}/{stem}.jpg").convert("RGB"))
            expected = deepslide_windows(image, 224, overlap)
            if by_folder:
                d = f"{out}/{cls}/{stem}/{stem}"
                names = os.listdir(d) if os.path.isdir(d) else []
                got = {tuple(int(v) for v in re.match(r"(\d+);(\d+)\.jpg$", n).groups()) for n in names}
            else:
                d = f"{out}/{cls}"
                names = os.listdir(d) if os.path.isdir(d) else []
                got = {tuple(int(v) for v in re.match(stem + r"_(\d+)_(\d+)\.jpg$", n).groups()) for n in names}
            total = (int((image.shape[0] - 224) / 224 * overlap) + 1) * (int((image.shape[1] - 224) / 224 * overlap) + 1)
            print(f"{stem} overlap {overlap}: DeepSlide keeps {len(expected)} of {total}, we keep {len(got)}")
            if got != expected:
                failures += 1
                print("  only DeepSlide:", sorted(expected - got)[:10], " only ours:", sorted(got - expected)[:10])
            kept_total += len(expected)
            dropped_total += total - len(expected)
    if kept_total == 0 or dropped_total == 0:
        failures += 1
        print("fixture does not exercise both kept and dropped windows")
    print("ok" if failures == 0 else f"FAILED: {failures} mismatches")
    if not failures:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
