#!/usr/bin/python3
"""End to end over stage 1-2 commands on synthetic slides: `deepslide synth` writes slides that
OpenSlide (the oracle) opens as Aperio with the recorded MPP/AppMag and associated images and
whose pixels match our reader; the same seed reproduces the same files; `deepslide split` makes
balanced label CSVs; `deepslide patches` exports tissue patches from them at a level and at a
target mpp, and bad input gives exit code 2 with a one-line error. Run by ctest (DEEPSLIDE set)."""
import csv
import hashlib
import os
import sys

import numpy as np
import openslide
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, failures, run, tempdir  # noqa: E402


tmp = tempdir("ds_synth_")
wsi = f"{tmp}/wsi"
run(["synth", "--out", wsi, "--classes", "3", "--slides-per-class", "3", "--width", "900", "--height", "700",
     "--seed", "5"])
classes = sorted(os.listdir(wsi))
check(classes == ["glandular", "lymphoid", "solid"], f"class folders {classes}")
path = f"{wsi}/solid/solid_001.tif"
s = openslide.OpenSlide(path)
check(s.properties.get("openslide.vendor") == "aperio", "vendor is " + str(s.properties.get("openslide.vendor")))
check(abs(float(s.properties["openslide.mpp-x"]) - 0.5) < 1e-6, "mpp-x")
check(s.properties.get("openslide.objective-power") == "20", "objective power")
check(set(s.associated_images) == {"thumbnail", "label", "macro"}, f"associated {set(s.associated_images)}")
check(s.level_count >= 2, "pyramid levels")
for level in range(s.level_count):
    w, h = s.level_dimensions[level]
    ref = np.asarray(s.read_region((0, 0), level, (w, h)).convert("RGB"))
    out = f"{tmp}/r{level}.png"
    run(["read-region", path, "--x", "0", "--y", "0", "--level", str(level), "--width", str(w), "--height", str(h),
         "--out", out])
    ours = np.asarray(Image.open(out).convert("RGB"))
    diff = np.abs(ours.astype(int) - ref.astype(int)).max()
    check(diff == 0, f"level {level}: max pixel difference from OpenSlide {diff}")

# Determinism: same seed, same bytes.
run(["synth", "--out", f"{tmp}/wsi2", "--classes", "3", "--slides-per-class", "3", "--width", "900", "--height", "700",
     "--seed", "5"])
h1 = hashlib.sha256(open(path, "rb").read()).hexdigest()
h2 = hashlib.sha256(open(f"{tmp}/wsi2/solid/solid_001.tif", "rb").read()).hexdigest()
check(h1 == h2, "synth is not deterministic for a fixed seed")

# Stage 1: split.
run(["split", "--all-wsi", wsi, "--out", f"{tmp}/split", "--val-per-class", "1", "--test-per-class", "1"])
rows = {}
for name in ["train", "val", "test"]:
    with open(f"{tmp}/split/labels_{name}.csv") as f:
        rows[name] = list(csv.DictReader(f))
check([len(rows[n]) for n in ["train", "val", "test"]] == [3, 3, 3], f"split sizes {[len(rows[n]) for n in rows]}")
check(all(r["img"].startswith(r["gt"] + "/") for r in rows["test"]), "img is class/file")
p = run(["split", "--all-wsi", wsi, "--out", f"{tmp}/split2", "--val-per-class", "2", "--test-per-class", "1"], 2)
check("glandular" in p.stderr and len(p.stderr.strip().splitlines()) == 1, f"one-line error naming the class: {p.stderr}")

# Stage 2: patch export at level 0, at level 1, and at a target mpp of 1.0 (reads level 1).
run(["patches", "--all-wsi", wsi, "--labels", f"{tmp}/split/labels_val.csv", "--out", f"{tmp}/p0",
     "--patch-size", "128"])
n0 = sum(len([f for f in files if f.endswith(".jpg")]) for _, _, files in os.walk(f"{tmp}/p0"))
check(n0 > 10, f"only {n0} patches at level 0")
run(["patches", "--all-wsi", wsi, "--labels", f"{tmp}/split/labels_val.csv", "--out", f"{tmp}/pm",
     "--patch-size", "64", "--mpp", "1.0", "--tissue", "otsu"])
pm = [os.path.join(d, f) for d, _, files in os.walk(f"{tmp}/pm") for f in files if f.endswith(".jpg")]
check(len(pm) > 3, f"only {len(pm)} patches at mpp 1.0")
if pm:
    im = Image.open(pm[0])
    check(im.size == (64, 64), f"mpp patch size {im.size}")
p = run(["patches", "--all-wsi", wsi, "--labels", f"{tmp}/split/labels_val.csv", "--out", f"{tmp}/px",
         "--tissue", "blue"], 2)
check("blue" in p.stderr, "unknown tissue method named")
p = run(["patches", "--all-wsi", wsi, "--labels", f"{tmp}/split/labels_val.csv", "--out", f"{tmp}/px",
         "--level", "9"], 2)
check("level 9" in p.stderr, f"missing level named: {p.stderr}")

for f in failures:
    print("FAIL:", f)
print("ok" if not failures else f"{len(failures)} failures")
sys.exit(1 if failures else 0)
