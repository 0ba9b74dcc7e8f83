#!/usr/bin/python3
"""A level-based bundle's resolution check, from the outside, on tiny synthetic slides that record
their microns per pixel (synth --mpp):
- predict.json records each slide's read_mpp (level 1 of a 0.5 um/px slide: 1.0); search copies
  the range into aggregator.json; bundle records it (recipe_level_mpp_min/max) and says so.
- diagnose refuses a slide a level reads at another resolution (0.25, 0.39 or 1.0 um/px against
  0.5: FAILED, named, with both resolutions and the way out, in its row's error column, exit 2)
  and diagnoses the others: the same resolution, one within a factor of 1.25 (0.6), a PNG that
  records none, a TIFF with a placeholder one (352.8 um/px). search's range covers only the slides
  it searched on.
- the ways out: a bundle made with --mpp has no range and reads those slides; predict with the
  bundle refuses them, and reads them when --level or --mpp is given; a bundle made at another
  level than the predictions records nothing and says so on stderr; a bundle without the keys (made before them) checks
  nothing.
- hostile values: a bad read_mpp_range in aggregator.json, and bad or half recipe_level_mpp_*
  keys in a bundle, are one-line errors naming the file and the field.
Run by ctest (DEEPSLIDE set)."""
import csv
import json
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, edit_model_metadata, error_line, failures, model_metadata, run, tempdir  # noqa: E402

tmp = tempdir("ds_resolution_")
T = ["--threads", "2", "--quiet"]
SYNTH = ["--classes", "2", "--slides-per-class", "1", "--width", "600", "--height", "500"]


def synth(out, mpp, seed):
    run(["synth", "--out", out, "--mpp", str(mpp), "--seed", str(seed)] + SYNTH)
    return out


wsi = synth(f"{tmp}/wsi", 0.5, 4)
cls = sorted(os.listdir(wsi))
labels = f"{tmp}/labels.csv"
with open(labels, "w") as f:
    f.write("img,gt\n" + "".join(f"{c}/{os.listdir(os.path.join(wsi, c))[0]},{c}\n" for c in cls))
model = f"{tmp}/m.safetensors"
run(["init-model", "--arch", "resnet18", "--classes", ",".join(cls), "--patch-size", "32", "--out", model])
run(["predict", "--model", model, "--all-wsi", wsi, "--labels", labels, "--out", f"{tmp}/pv", "--overlap", "1",
     "--level", "0", "--tissue", "otsu"] + T)
pj = json.load(open(f"{tmp}/pv/predict.json"))
check(sorted(e.get("read_mpp") for e in pj["slides"].values()) == [0.5, 0.5], f"read_mpp at level 0: {pj['slides']}")
run(["predict", "--model", model, "--all-wsi", wsi, "--labels", labels, "--out", f"{tmp}/pv1", "--overlap", "1",
     "--level", "1", "--tissue", "otsu"] + T)
pj1 = json.load(open(f"{tmp}/pv1/predict.json"))
check(all(abs(e.get("read_mpp", 0) - 1.0) < 0.01 for e in pj1["slides"].values()),  # level 1: 250 of 500 rows
      f"read_mpp at level 1: {pj1['slides']}")

# A slide of another label CSV in predict.json does not widen the range: only the slides searched on.
pj["slides"]["other%2Fx.tif"] = dict(next(iter(pj["slides"].values())), img="other/x.tif", read_mpp=0.25)
with open(f"{tmp}/pv/predict.json", "w") as f:
    json.dump(pj, f)
run(["search", "--preds", f"{tmp}/pv", "--labels", labels, "--out", f"{tmp}/search"])
agg_path = f"{tmp}/search/aggregator.json"
agg = json.load(open(agg_path))
check(agg.get("windows", {}).get("read_mpp_range") == [0.5, 0.5], f"aggregator.json windows: {agg.get('windows')}")

bundle = f"{tmp}/b.safetensors"
p = run(["bundle", "--model", model, "--aggregator", agg_path, "--out", bundle])
meta = model_metadata(bundle) if os.path.exists(bundle) else {}
check(meta.get("recipe_level_mpp_min") == "0.5" and meta.get("recipe_level_mpp_max") == "0.5",
      f"bundle's recorded resolution: {meta}")
check("slides read at 0.5 um/px" in p.stdout, f"bundle says what it checks: {p.stdout!r}")

# ---- diagnose: refused at 0.25, 0.39 (below 0.5 / 1.25) and 1.0 um/px; diagnosed at 0.5, 0.6,
# without a resolution and with a placeholder one (72 dpi: 352.8 um/px, which no scanner writes)
new = f"{tmp}/new"
for mpp, seed in [(0.25, 9), (1.0, 10), (0.5, 11), (0.6, 12), (0.39, 13), (352.8, 14)]:
    synth(f"{new}/at{mpp}", mpp, seed)
png = f"{new}/nompp/plain.png"
os.makedirs(os.path.dirname(png))
Image.fromarray(np.random.default_rng(2).integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(png)
p = run(["diagnose", "--bundle", bundle, "--out", f"{tmp}/dx", new] + T, expect=2)
rows = list(csv.DictReader(open(f"{tmp}/dx/diagnoses.csv"))) if os.path.exists(f"{tmp}/dx/diagnoses.csv") else []
errors = {r["slide"]: r.get("error", "") for r in rows}
refused = sorted(s for s, e in errors.items() if e)
check(len(rows) == 13 and len(refused) == 6 and
      all(any(f"/at{m}/" in s for m in ("0.25", "0.39", "1.0")) for s in refused),
      f"refused slides: {refused} of {sorted(errors)}")
for s in refused:
    e = errors[s]
    want = "it is " + next(m for m in ("0.25", "0.39", "1") if f"/at{m}" in s) + " um/px"
    check(want in e and "validated on slides read at 0.5 um/px" in e and "--mpp 0.5" in e, f"{s}: {e!r}")
check(all(r["diagnosis"] for r in rows if not r.get("error")), f"the others diagnosed: {rows}")
folders = sorted(f for f in os.listdir(f"{tmp}/dx") if os.path.isdir(f"{tmp}/dx/{f}") and not f.startswith("."))
check(len(folders) == 7, f"a folder for each diagnosed slide, none for a refused one: {folders}")
check("6 of 13 slides failed" in error_line(p), f"diagnose's summary: {error_line(p)!r}")
check(any("FAILED: at level 0 it is 0.25 um/px" in line and "at0.25" in line for line in p.stderr.splitlines()),
      f"the slide's line names it and the reason: {p.stderr[-1500:]}")

# ---- the ways out
bundle_mpp = f"{tmp}/b_mpp.safetensors"
p = run(["bundle", "--model", model, "--aggregator", agg_path, "--out", bundle_mpp, "--mpp", "0.5"])
check("recipe_level_mpp_min" not in model_metadata(bundle_mpp) and "none: the recipe reads at an mpp" in p.stdout,
      f"an --mpp bundle records no level range: {p.stdout!r}")
run(["diagnose", "--bundle", bundle_mpp, "--out", f"{tmp}/dx_mpp", f"{new}/at0.25", f"{new}/at1.0"] + T)
bundle_l1 = f"{tmp}/b_l1.safetensors"
p = run(["bundle", "--model", model, "--aggregator", agg_path, "--out", bundle_l1, "--level", "1"])
check("recipe_level_mpp_min" not in model_metadata(bundle_l1) and "none: no resolution recorded" in p.stdout,
      f"a bundle at another level than its predictions records nothing: {p.stdout!r}")
check("bundle: note: the recipe reads slides at level 1, the predictions" in p.stderr and "at level 0" in p.stderr,
      f"a bundle at another level than its predictions says so: {p.stderr!r}")
p = run(["bundle", "--model", model, "--aggregator", agg_path, "--out", f"{tmp}/b_l0.safetensors", "--level", "0"])
check("note:" not in p.stderr, f"a bundle at the predictions' own level notes nothing: {p.stderr!r}")
old = f"{tmp}/b_old.safetensors"
edit_model_metadata(bundle, old, lambda m: [m.pop("recipe_level_mpp_min"), m.pop("recipe_level_mpp_max")])
run(["diagnose", "--bundle", old, "--out", f"{tmp}/dx_old", f"{new}/at0.25"] + T)

lab25 = f"{tmp}/labels25.csv"
c0 = os.listdir(f"{new}/at0.25")[0]
with open(lab25, "w") as f:
    f.write(f"img,gt\n{c0}/{os.listdir(f'{new}/at0.25/{c0}')[0]},{c0}\n")
p = run(["predict", "--model", bundle, "--all-wsi", f"{new}/at0.25", "--labels", lab25, "--out", f"{tmp}/p25"] + T,
        expect=2)
check("it is 0.25 um/px" in p.stderr, f"predict with the bundle refuses the slide: {p.stderr[-600:]!r}")
for flags in (["--level", "0"], ["--mpp", "0.5"]):
    run(["predict", "--model", bundle, "--all-wsi", f"{new}/at0.25", "--labels", lab25, "--out",
         f"{tmp}/p25_{flags[0][2:]}"] + flags + T)

# ---- hostile values
# (Positive but absurd: 1e308 would switch the check off, 1e-300 refuse every slide.)
for bad in ['"x"', "[0, 1]", "[2, 1]", "[0.5]", '[0.5, "1"]', "[0.5, 1e308]", "[1e-300, 1e-300]", "[0.01, 0.5]"]:
    a = dict(agg)
    a["windows"] = dict(agg["windows"])
    path = f"{tmp}/agg_bad.json"
    with open(path, "w") as f:
        f.write(json.dumps(a).replace('"read_mpp_range": [0.5, 0.5]', f'"read_mpp_range": {bad}'))
    p = run(["bundle", "--model", model, "--aggregator", path, "--out", f"{tmp}/b_bad.safetensors"], expect=2)
    line = error_line(p)
    check("agg_bad.json" in line and "read_mpp_range" in line and len(p.stderr.strip().splitlines()) == 1,
          f"read_mpp_range {bad}: {p.stderr!r}")
for edit, field in [(lambda m: m.update(recipe_level_mpp_min="-1"), "recipe_level_mpp_min"),
                    (lambda m: m.update(recipe_level_mpp_max="0.1"), "recipe_level_mpp_max"),
                    (lambda m: m.update(recipe_level_mpp_max="1e308"), "recipe_level_mpp_max"),
                    (lambda m: m.update(recipe_level_mpp_min="1e-300"), "recipe_level_mpp_min"),
                    (lambda m: m.update(recipe_level_mpp_min="abc"), "recipe_level_mpp_min"),
                    (lambda m: m.pop("recipe_level_mpp_max"), "recipe_level_mpp_max"),
                    (lambda m: m.update(recipe_mpp="0.5"), "recipe_level_mpp_min")]:
    edit_model_metadata(bundle, f"{tmp}/bad.safetensors", edit)
    p = run(["diagnose", "--bundle", f"{tmp}/bad.safetensors", "--out", f"{tmp}/dx_bad", f"{new}/at0.5"] + T,
            expect=2)
    line = error_line(p)
    check("bad.safetensors" in line and field in line and len(p.stderr.strip().splitlines()) == 1,
          f"bundle with a bad {field}: {p.stderr!r}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
