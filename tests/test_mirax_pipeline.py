# The pipeline on a MIRAX slide (scripts/gen_mirax.py: overlapping photos at stored positions):
# `predict` gives the same windows and predictions as on a plain tiled TIFF of the pixels OpenSlide
# reads from the slide (level 0, where the photos sit on whole pixels); its key covers the slide's
# folder (a rerun skips it, a changed data file redoes it); `diagnose` on a folder holding the .mrxs
# and its folder finds one slide.
import csv
import json
import os
import sys

import numpy as np
import openslide
import tifffile

SRC = os.environ.get("DS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(SRC, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_mirax  # noqa: E402
from cli_harness import check, failures, run, tempdir  # noqa: E402

tmp = tempdir("ds_mirax_pipeline_")
for kind in ("tiff", "mirax"):
    os.makedirs(f"{tmp}/{kind}/a")
gen_mirax.make_mirax(f"{tmp}/mirax/a/s.mrxs", cols=4, rows=3, divisions=2, image=(128, 96), levels=3, seed=9)
s = openslide.OpenSlide(f"{tmp}/mirax/a/s.mrxs")
rgba = np.asarray(s.read_region((0, 0), 0, s.dimensions)).astype(np.int32)
alpha = rgba[..., 3:]
rgb = ((rgba[..., :3] * alpha + 127) // 255 + 255 - alpha).astype(np.uint8)  # over white, as we draw
tifffile.imwrite(f"{tmp}/tiff/a/s.tif", rgb, tile=(256, 256), photometric="rgb")
slides = {"tiff": "a/s.tif", "mirax": "a/s.mrxs"}
run(["init-model", "--arch", "resnet18", "--classes", "a,b", "--patch-size", "64", "--seed", "3", "--out",
     f"{tmp}/m.safetensors"])


def predict(kind, out):
    with open(f"{tmp}/{kind}.csv", "w") as f:
        f.write(f"img,gt\n{slides[kind]},a\n")
    return run(["predict", "--model", f"{tmp}/m.safetensors", "--all-wsi", f"{tmp}/{kind}", "--labels",
                f"{tmp}/{kind}.csv", "--out", out, "--tissue", "otsu", "--overlap", "1"])


def rows(out):
    found = []
    for name in sorted(os.listdir(out)):
        if name.endswith(".csv"):
            with open(os.path.join(out, name)) as f:
                found += list(csv.DictReader(f))
    return found


predict("tiff", f"{tmp}/out_tiff")
predict("mirax", f"{tmp}/out_mirax")
t, m = rows(f"{tmp}/out_tiff"), rows(f"{tmp}/out_mirax")
check(len(t) > 20, f"predict: only {len(t)} windows on the TIFF")
check(t == m, f"predict: MIRAX and TIFF differ ({len(m)} vs {len(t)} windows; first "
              f"{next(((a, b) for a, b in zip(m, t) if a != b), None)})")
print(f"predict: {len(m)} windows, identical to the TIFF of OpenSlide's pixels")

p = predict("mirax", f"{tmp}/out_mirax")
check("up to date, skipped" in p.stderr and "redone" not in p.stderr, f"an unchanged slide is skipped: {p.stderr[-600:]}")
with open(f"{tmp}/mirax/a/s/Data0001.dat", "ab") as f:  # the slide's folder changed, not the .mrxs
    f.write(b"\0")
p = predict("mirax", f"{tmp}/out_mirax")
check("redone: the slide file changed" in p.stderr, f"a changed data file redoes the slide: {p.stderr[-600:]}")
print("predict: the key covers the slide's folder (a changed data file redoes the slide)")

agg = {"method": "logistic", "classes": ["a", "b"], "lambda": 1.0, "weights": [[1, 0, 0, 0], [0, 1, 0, 0]],
       "bias": [0, 0], "name": "made_for_the_test"}
json.dump(agg, open(f"{tmp}/agg.json", "w"))
run(["bundle", "--model", f"{tmp}/m.safetensors", "--aggregator", f"{tmp}/agg.json", "--out", f"{tmp}/b.safetensors",
     "--level", "0", "--overlap", "1", "--tissue", "otsu"])
run(["diagnose", "--bundle", f"{tmp}/b.safetensors", f"{tmp}/mirax", "--out", f"{tmp}/diag", "--quiet"])
with open(f"{tmp}/diag/diagnoses.csv") as f:
    diag = list(csv.DictReader(f))
check(len(diag) == 1 and diag[0]["slide"].endswith("s.mrxs"),
      f"diagnose found {[r['slide'] for r in diag]} in the folder (the .mrxs alone expected)")
print(f"diagnose: one slide, {diag[0]['windows'] if diag else '?'} windows")
if failures:
    print("\n".join(failures))
    sys.exit(1)
