#!/usr/bin/python3
"""Why Macenko is fragile on the demo's synthetic slides (BENCHMARKS.md, "Stain: the demo's
check"): a NumPy Macenko (the published steps, fitted per image after a white balance by the
glass, as `--stain-fit slide` does) normalises a home-stain region and the same region in another
lab's stain to the home region's own reference; the mean absolute difference between the two
results over the tissue says how much of the shift the normalisation undoes (0 = all of it), next
to the same difference without normalisation. The shift is `synth --stain-shift`'s formula
(stain/stain_shift.cpp) applied here in NumPy, whole and split into its three parts: other stain
vectors, heavier staining, a scanner's colour cast. Needs `make demo` (demo/stain/new_home).

  /usr/bin/python3 bench/macenko_invariance.py [--slide demo/stain/new_home/solid/solid_000.tif]
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np
from PIL import Image
from skimage.color import hed_from_rgb, rgb_from_hed

ap = argparse.ArgumentParser()
ap.add_argument("--slide", default="demo/stain/new_home/solid/solid_000.tif")
ap.add_argument("--deepslide", default=os.environ.get("DEEPSLIDE", "build/deepslide"))
args = ap.parse_args()
with tempfile.TemporaryDirectory() as tmp:
    png = os.path.join(tmp, "region.png")
    subprocess.run([args.deepslide, "read-region", args.slide, "--x", "0", "--y", "0", "--level", "2", "--width",
                    "720", "--height", "520", "--out", png], check=True)
    home = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64).reshape(-1, 3)


def od(rgb):
    return -np.log(np.maximum(rgb, 1) / 255)


def balance(rgb):  # the glass: the brightest quarter's per-channel median, made white
    grey = rgb.mean(1)
    return np.clip(rgb * 255 / np.median(rgb[grey > np.percentile(grey, 75)], 0), 1, 255)


def unit(v):
    return v / np.linalg.norm(v)


def shift(rgb, vectors=True, amounts=True, cast=True, s=1.0):
    to = rgb_from_hed.copy()
    if vectors:
        to[0] = unit(to[0] + np.array([0.25, -0.15, -0.10]) * s)
        to[1] = unit(to[1] + np.array([0.10, 0.05, 0.30]) * s)
    k = np.array([1 + 0.25 * s, 1 + 0.15 * s, 1.0]) if amounts else np.ones(3)
    gain = np.array([1 - 0.08 * s, 1 - 0.02 * s, 1 + 0.06 * s]) if cast else np.ones(3)
    return np.clip(np.round(255 * np.exp(-(od(rgb) @ (hed_from_rgb @ np.diag(k) @ to) - np.log(gain)))), 0, 255)


def macenko(rgb, beta=0.15, alpha=1.0):  # Macenko et al. 2009: vectors and 99th-percentile amounts
    o = od(balance(rgb))
    keep = (o >= beta).all(1)
    _, vec = np.linalg.eigh(np.cov(o[keep].T))
    plane = vec[:, [2, 1]]
    if plane[:, 0].sum() < 0:
        plane[:, 0] *= -1
    p = o[keep] @ plane
    lo, hi = np.percentile(np.arctan2(p[:, 1], p[:, 0]), [alpha, 100 - alpha])
    a, b = plane @ [np.cos(lo), np.sin(lo)], plane @ [np.cos(hi), np.sin(hi)]
    stains = np.array([a, b]) if a[0] > b[0] else np.array([b, a])
    conc = np.linalg.lstsq(stains.T, o.T, rcond=None)[0]
    return stains, np.percentile(conc[:, keep], 99, axis=1), conc


def normalise(rgb, ref):
    _, top, conc = macenko(rgb)
    return 255 * np.exp(-((conc * (ref[1] / top)[:, None]).T @ ref[0]))


ref = macenko(home)
tissue = np.linalg.norm(od(balance(home)), axis=1) > 0.1
base = normalise(home, ref)
print(f"{args.slide}, level 2, {tissue.sum()} tissue pixels; the home region normalised to its own "
      f"reference moves by {np.abs(base - balance(home))[tissue].mean():.2f} (the part off the stain plane)")
print(f"fitted stains: H {ref[0][0].round(3).tolist()}, E {ref[0][1].round(3).tolist()}")
print("shift                      | home vs shifted, balanced | the same, Macenko-normalised")
for name, flags in (("whole (--stain-shift 1)", {}), ("stain vectors only", dict(amounts=False, cast=False)),
                    ("stain amounts only", dict(vectors=False, cast=False)),
                    ("colour cast only", dict(vectors=False, amounts=False))):
    moved = shift(home, **flags)
    raw = np.abs(balance(home) - balance(moved))[tissue].mean()
    normed = np.abs(base - normalise(moved, ref))[tissue].mean()
    print(f"{name:26} | {raw:25.2f} | {normed:.2f}")
