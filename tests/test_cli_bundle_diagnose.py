#!/usr/bin/python3
"""`deepslide bundle` and `deepslide diagnose` from the outside, on tiny synthetic slides:
- bundle: window settings left out come from aggregator.json (search copies predict.json's);
  flags override them; the recipe is in the safetensors metadata; a hand-made aggregator.json
  without window settings needs the flags (exit 2, one line naming the flag).
- a bundle is a model file: classify prints the same as with the model file, visualize draws
  Grad-CAM with it; predict takes the
  recipe's window settings as defaults (predict.json records them) and explicit flags win.
- diagnose on slides the project has never seen (another synth seed), no labels: its diagnoses
  equal the slide-level predictions of predict + evaluate for the same bundle's model and
  aggregator (an aggregator made to split these slides, so both classes occur), its windows.csv
  equal predict's CSVs; heatmaps per class; output folders unique for same-stem slides; --json
  lines match diagnoses.csv; a broken and a missing slide are named and counted, the others go
  on, exit 2;
  a rerun skips current slides, and redoes a changed slide or all slides for a changed bundle,
  saying why; --labels with an img-only CSV.
- a bundle missing a recipe field: exit 2, one line naming the file and the field.
Run by ctest (DEEPSLIDE set)."""
import csv
import json
import os
import shutil
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, edit_model_metadata, error_line, failures, model_metadata, out_name, run, tempdir  # noqa: E402


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


tmp = tempdir("ds_bundle_")
wsi, new = f"{tmp}/wsi", f"{tmp}/new"
T = ["--threads", "2"]
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "4", "--width", "600", "--height", "500",
     "--seed", "4"])
cls = sorted(os.listdir(wsi))
run(["split", "--all-wsi", wsi, "--out", f"{tmp}/labels", "--val-per-class", "2", "--test-per-class", "1"])
model = f"{tmp}/m.safetensors"
run(["init-model", "--arch", "resnet18", "--classes", ",".join(cls), "--patch-size", "32", "--out", model])
run(["predict", "--model", model, "--all-wsi", wsi, "--labels", f"{tmp}/labels/labels_val.csv", "--out",
     f"{tmp}/preds_val", "--overlap", "1", "--level", "1", "--tissue", "otsu"] + T)
run(["search", "--preds", f"{tmp}/preds_val", "--labels", f"{tmp}/labels/labels_val.csv", "--out", f"{tmp}/search"])
agg = json.load(open(f"{tmp}/search/aggregator.json"))
check(agg.get("windows", {}).get("overlap") == 1 and agg["windows"].get("tissue") == "otsu",
      f"aggregator.json window settings {agg.get('windows')}")

# ---- bundle from the search run, and with flags
b1 = f"{tmp}/b1.safetensors"
p = run(["bundle", "--model", model, "--aggregator", f"{tmp}/search/aggregator.json", "--out", b1])
meta = model_metadata(b1) if os.path.exists(b1) else {}
check(meta.get("format") == "deepslide-model" and meta.get("bundle") == "1", f"bundle metadata {meta}")
check(meta.get("recipe_overlap") == "1" and meta.get("recipe_level") == "1" and meta.get("recipe_tissue") == "otsu",
      f"recipe from the search run: {meta}")
check(json.loads(meta.get("recipe_aggregator", "{}")).get("method") == agg["method"], "recipe_aggregator")
prov = json.loads(meta.get("provenance", "{}"))
check(prov.get("validation", {}).get("name") == agg["name"] and "deepslide_version" in prov,
      f"provenance {prov}")
# The same inputs give the same bytes (diagnose keys its results by the bundle's hash).
b1_again = f"{tmp}/b1_again.safetensors"
run(["bundle", "--model", model, "--aggregator", f"{tmp}/search/aggregator.json", "--out", b1_again])
check(os.path.exists(b1_again) and open(b1, "rb").read() == open(b1_again, "rb").read(),
      "two bundles of the same model and aggregator differ")
b2 = f"{tmp}/b2.safetensors"
run(["bundle", "--model", model, "--aggregator", f"{tmp}/search/aggregator.json", "--out", b2, "--overlap", "2",
     "--tissue", "purple"])
m2 = model_metadata(b2) if os.path.exists(b2) else {}
check(m2.get("recipe_overlap") == "2" and m2.get("recipe_tissue") == "purple" and m2.get("recipe_level") == "1",
      f"flags override: {m2}")

# ---- calibrate: a bundle stays a bundle (its recipe reads the windows), and bundling a calibrated
# model keeps its int8 ranges (metadata int8_act_max)
one_slide = os.path.join(wsi, cls[0], sorted(os.listdir(os.path.join(wsi, cls[0])))[0])
b1c = f"{tmp}/b1.int8.safetensors"
p = run(["calibrate", "--model", b1, "--out", b1c, "--windows", "4", one_slide] + T)
mc = model_metadata(b1c) if os.path.exists(b1c) else {}
# calibrate adds precision_agreement too where the CPU has bf16 or int8 kernels to measure it with.
ADDED = ("int8_act_max", "precision_agreement")
check("int8_act_max" in mc and {k: v for k, v in mc.items() if k not in ADDED} == meta,
      f"calibrated bundle: the bundle's metadata kept, ranges added: {sorted(mc)}")
check("calibrate: 4 windows" in p.stdout, f"calibrate on the bundle's recipe: {p.stdout!r}")
mcal = f"{tmp}/m.int8.safetensors"
run(["calibrate", "--model", model, "--out", mcal, "--windows", "4", one_slide] + T)
b3 = f"{tmp}/b3.safetensors"
run(["bundle", "--model", mcal, "--aggregator", f"{tmp}/search/aggregator.json", "--out", b3])
m3 = model_metadata(b3) if os.path.exists(b3) else {}
check(m3.get("int8_act_max") and m3.get("int8_act_max") == model_metadata(mcal).get("int8_act_max"),
      "bundle of a calibrated model keeps its int8 ranges")

# ---- a bundle is a model file: classify and predict take it
patch = f"{tmp}/patch.png"
Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(patch)
pm = run(["classify", "--model", model, patch])
pb = run(["classify", "--model", b1, patch])
check(pm.stdout == pb.stdout and pb.stdout, f"classify with the bundle: {pb.stdout!r} vs {pm.stdout!r}")
run(["predict", "--model", b1, "--all-wsi", wsi, "--labels", f"{tmp}/labels/labels_test.csv", "--out",
     f"{tmp}/pb"] + T)
pj = json.load(open(f"{tmp}/pb/predict.json")) if os.path.exists(f"{tmp}/pb/predict.json") else {}
check(pj.get("overlap") == 1 and pj.get("level") == 1 and pj.get("tissue") == "otsu", f"predict uses the recipe: {pj}")
run(["visualize", "--all-wsi", wsi, "--labels", f"{tmp}/labels/labels_test.csv", "--preds", f"{tmp}/pb", "--out",
     f"{tmp}/vis", "--mode", "heatmap", "--gradcam", "1", "--model", b1, "--thumb-size", "128"] + T)
check(any("_gradcam_" in f for f in os.listdir(f"{tmp}/vis")) if os.path.isdir(f"{tmp}/vis") else False,
      "visualize --gradcam with the bundle as its model")
run(["predict", "--model", b1, "--all-wsi", wsi, "--labels", f"{tmp}/labels/labels_test.csv", "--out",
     f"{tmp}/pb2", "--overlap", "2", "--level", "0"] + T)
pj = json.load(open(f"{tmp}/pb2/predict.json")) if os.path.exists(f"{tmp}/pb2/predict.json") else {}
check(pj.get("overlap") == 2 and pj.get("level") == 0 and pj.get("tissue") == "otsu", f"flags win over the recipe: {pj}")

# ---- slides the project has never seen; an aggregator that splits them, so both classes occur
run(["synth", "--out", new, "--classes", "2", "--slides-per-class", "3", "--width", "600", "--height", "500",
     "--seed", "99"])
os.makedirs(f"{new}/elsewhere")
shutil.copy(f"{new}/{cls[0]}/{cls[0]}_000.tif", f"{new}/elsewhere/{cls[0]}_000.tif")  # same stem, other folder
imgs = sorted(os.path.relpath(os.path.join(d, f), new) for d, _, fs in os.walk(new) for f in fs)
with open(f"{tmp}/new_labels.csv", "w") as f:
    f.write("img,gt\n" + "".join(f"{i},{i.split('/')[0] if i.split('/')[0] in cls else cls[0]}\n" for i in imgs))
recipe = ["--overlap", "1", "--level", "0", "--tissue", "purple"]
run(["predict", "--model", model, "--all-wsi", new, "--labels", f"{tmp}/new_labels.csv", "--out", f"{tmp}/pn"]
    + recipe + T)
mean0 = []
for i in imgs:
    rows = read_csv(f"{tmp}/pn/{out_name(i)}.csv")[1:]
    mean0.append(np.mean([float(r[4]) for r in rows]) if rows else 0.0)
cut = float(np.median(sorted(set(mean0))))
split_agg = {"method": "logistic", "classes": cls, "lambda": 1.0,
             "weights": [[0, 0, 0, 0], [0, 0, -1e4, 0]], "bias": [0, 1e4 * cut], "name": "made_for_the_test"}
json.dump(split_agg, open(f"{tmp}/split_agg.json", "w"))
bundle = f"{tmp}/model.bundle.safetensors"
p = run(["bundle", "--model", model, "--aggregator", f"{tmp}/split_agg.json", "--out", bundle], expect=2)
check("give --level" in error_line(p) and p.stderr.count("\n") == 1, f"no window settings: {p.stderr!r}")
run(["bundle", "--model", model, "--aggregator", f"{tmp}/split_agg.json", "--out", bundle] + recipe)
run(["evaluate", "--preds", f"{tmp}/pn", "--labels", f"{tmp}/new_labels.csv", "--aggregator", f"{tmp}/split_agg.json",
     "--out", f"{tmp}/eval", "--bootstrap", "10"])
evaluated = {r[0]: r[2] for r in read_csv(f"{tmp}/eval/slides.csv")[1:]}

out = f"{tmp}/dx"
p = run(["diagnose", "--bundle", bundle, "--out", out, new, "--json"] + T)
rows = read_csv(f"{out}/diagnoses.csv")
check(rows[0] == ["slide", "diagnosis", "confidence"] + [f"score_{c}" for c in cls] +
      ["windows", "tissue_mm2", "seconds"], f"diagnoses.csv header {rows[0]}")
diagnosed = {os.path.relpath(r[0], new): r for r in rows[1:]}
check(sorted(diagnosed) == imgs, f"diagnosed slides {sorted(diagnosed)} vs {imgs}")
check({r[1] for r in diagnosed.values()} == set(cls), f"both classes diagnosed: {[r[1] for r in diagnosed.values()]}")
for img in imgs:
    r = diagnosed.get(img)
    if not r:
        continue
    check(r[1] == evaluated.get(img), f"{img}: diagnose says {r[1]}, evaluate {evaluated.get(img)}")
    scores = [float(v) for v in r[3:3 + len(cls)]]
    check(abs(float(r[2]) - scores[cls.index(r[1])]) < 1e-9, f"{img}: confidence is the chosen class's score")
    # Overlap 1: the windows tile the tissue, so their union is their count times their area.
    info = json.loads(run(["info", f"{new}/{img}"]).stdout or "{}")
    mpp = info.get("mpp_x", 0)
    check(abs(float(r[6]) - int(r[5]) * (32 * mpp) ** 2 / 1e6) < 1e-6 * max(1, int(r[5])),
          f"{img}: tissue_mm2 {r[6]} for {r[5]} windows of 32 px at {mpp} um/px")
lines = [json.loads(x) for x in p.stdout.splitlines()]
check([(os.path.relpath(j["slide"], new), j["diagnosis"]) for j in lines] ==
      [(os.path.relpath(r[0], new), r[1]) for r in rows[1:]], "--json lines match diagnoses.csv")
folders = sorted(os.path.basename(j["out"]) for j in lines)
check(len(set(folders)) == len(imgs) and sum(f.startswith(f"{cls[0]}_000-") for f in folders) == 2,
      f"unique folders for same-stem slides: {folders}")
for j in lines:
    name = out_name(os.path.relpath(j["slide"], new))
    d = j["out"]
    check(all(os.path.exists(f"{d}/heatmap_{c}.png") for c in cls), f"{d}: heatmaps")
    check(read_csv(f"{d}/windows.csv") == read_csv(f"{tmp}/pn/{name}.csv"), f"{d}/windows.csv equals predict's CSV")
    gj = json.load(open(f"{d}/predictions.geojson"))
    tiles = [f for f in gj["features"] if f["properties"]["objectType"] == "tile"]
    check(gj["type"] == "FeatureCollection" and len(tiles) == len(read_csv(f"{d}/windows.csv")) - 1,
          f"{d}/predictions.geojson: a QuPath tile per window")
check("ETA" in p.stderr and "slides/s" in p.stderr, f"progress with rate and ETA: {p.stderr[-400:]}")

# Rerun: all current; a changed slide is redone; a changed bundle redoes all.
p = run(["diagnose", "--bundle", bundle, "--out", out, new] + T)
check(p.stderr.count("skipped") == len(imgs), f"rerun skips: {p.stderr}")
with open(f"{new}/elsewhere/{cls[0]}_000.tif", "ab") as f:
    f.write(b"\0" * 16)
p = run(["diagnose", "--bundle", bundle, "--out", out, new] + T)
check(p.stderr.count("skipped") == len(imgs) - 1 and "the slide changed" in p.stderr, f"changed slide: {p.stderr}")
p = run(["diagnose", "--bundle", b2, "--out", out, new] + T)
check(p.stderr.count("the bundle changed") == len(imgs), f"changed bundle: {p.stderr}")
# Overlap 2 (b2, at level 1): windows overlap, so the union is less than their summed area.
for r in read_csv(f"{out}/diagnoses.csv")[1:]:
    n, area = int(r[5]), float(r[6])
    side_mm2 = (64 * 0.5) ** 2 / 1e6  # 32 px at level 1 (downsample 2) of a 0.5 um/px slide
    check(n == 0 or n * side_mm2 / 4 - 1e-9 <= area < n * side_mm2, f"{r[0]}: union {area} of {n} windows")

# A broken slide: named, counted, the others go on, exit 2.
with open(f"{new}/{cls[1]}/broken.tif", "wb") as f:
    f.write(b"II*\x00" + b"\x00" * 20)
p = run(["diagnose", "--bundle", bundle, "--out", f"{tmp}/dx2", new, f"{tmp}/missing.svs"] + T, expect=2)
check("broken.tif: FAILED" in p.stderr and "missing.svs: FAILED" in p.stderr and "2 of" in error_line(p),
      f"broken and missing slides: {p.stderr[-600:]}")
dx2 = read_csv(f"{tmp}/dx2/diagnoses.csv")
check(len(dx2) == len(imgs) + 3, "the other slides diagnosed, and a row for each failed one")
# The failed slides are rows too: no diagnosis, no scores or counts, and the reason in `error`.
failed = {r[0]: r for r in dx2[1:] if r[-1]}
check(dx2[0][-1] == "error" and sorted(os.path.basename(k) for k in failed) == ["broken.tif", "missing.svs"] and
      all(r[1] == "" and set(r[2:-1]) == {""} for r in failed.values()) and
      all(r[-1] == "" and r[1] != "" for r in dx2[1:] if r[0] not in failed),
      f"failed rows: {dx2}")
os.remove(f"{new}/{cls[1]}/broken.tif")

# --labels with classes: a gt column.
with open(f"{tmp}/with_gt.csv", "w") as f:
    f.write("img,gt\n" + "".join(f"{i},{cls[0]}\n" for i in imgs[:2]))
run(["diagnose", "--bundle", bundle, "--out", f"{tmp}/dx6", "--labels", f"{tmp}/with_gt.csv", new] + T)
g = read_csv(f"{tmp}/dx6/diagnoses.csv")
check(g[0][-1] == "gt" and [r[-1] for r in g[1:]] == [cls[0]] * 2, f"gt column: {g}")
# A label the bundle has no class for is kept, and said.
with open(f"{tmp}/typo_gt.csv", "w") as f:
    f.write("img,gt\n" + "".join(f"{i},tumour\n" for i in imgs[:1]))
p = run(["diagnose", "--bundle", bundle, "--out", f"{tmp}/dx8", "--labels", f"{tmp}/typo_gt.csv", new] + T)
check("the class 'tumour', which is not one of the bundle's" in p.stderr, f"unknown label class: {p.stderr[-400:]}")
# A file named as a slide that is none (random bytes as .svs) in a folder: it fails, named, and
# leaves no folder; the folder's other slide is diagnosed.
os.makedirs(f"{tmp}/incoming")
shutil.copy(os.path.join(new, imgs[0]), f"{tmp}/incoming/")
open(f"{tmp}/incoming/random.svs", "wb").write(os.urandom(5000))
p = run(["diagnose", "--bundle", bundle, "--out", f"{tmp}/dx9", f"{tmp}/incoming"] + T, expect=2)
check("random.svs" in p.stderr and "1 failed" in p.stderr and not os.path.exists(f"{tmp}/dx9/random") and
      len(read_csv(f"{tmp}/dx9/diagnoses.csv")) == 3, f"a corrupt .svs in a folder: {p.stderr[-500:]}")
# --labels: img-only CSV.
with open(f"{tmp}/img_only.csv", "w") as f:
    f.write("img\n" + "".join(f"{i}\n" for i in imgs[:2]))
run(["diagnose", "--bundle", bundle, "--out", f"{tmp}/dx3", "--labels", f"{tmp}/img_only.csv", new] + T)
check(len(read_csv(f"{tmp}/dx3/diagnoses.csv")) == 3, "--labels img-only CSV")

# A slide with no tissue window (white glass under the purple filter): no diagnosis, said on its
# line and in the summary, an empty diagnosis in diagnoses.csv and null in diagnosis.json; a rerun
# finds it current and still says so.
from PIL import Image  # noqa: E402
os.makedirs(f"{tmp}/blank")
Image.new("RGB", (300, 200), (255, 255, 255)).save(f"{tmp}/blank/glass.png")
for rerun in (False, True):
    p = run(["diagnose", "--bundle", bundle, "--out", f"{tmp}/dx7", f"{tmp}/blank/glass.png"] + T)
    rows7 = read_csv(f"{tmp}/dx7/diagnoses.csv")
    rec = json.load(open(f"{tmp}/dx7/glass/diagnosis.json"))["result"] if os.path.exists(
        f"{tmp}/dx7/glass/diagnosis.json") else {}
    check("NO DIAGNOSIS: no tissue window" in p.stderr and "1 slide has no diagnosis" in p.stderr and
          len(rows7) == 2 and rows7[1][1:3] == ["", ""] and rec.get("diagnosis", "x") is None and
          ("1 already current" in p.stderr) == rerun, f"a slide without tissue (rerun {rerun}): {p.stderr[-600:]}")

# A bundle missing a recipe field; a plain model file.
edit_model_metadata(bundle, f"{tmp}/broken.bundle.safetensors", lambda m: m.pop("recipe_overlap"))
p = run(["diagnose", "--bundle", f"{tmp}/broken.bundle.safetensors", "--out", f"{tmp}/dx4", new], expect=2)
check(p.stderr.count("\n") == 1 and "broken.bundle.safetensors" in p.stderr and "recipe_overlap" in p.stderr,
      f"missing field: {p.stderr!r}")
p = run(["predict", "--model", f"{tmp}/broken.bundle.safetensors", "--all-wsi", wsi, "--labels",
         f"{tmp}/labels/labels_test.csv", "--out", f"{tmp}/pb3"], expect=2)
check("recipe_overlap" in error_line(p), f"predict with a broken bundle: {p.stderr!r}")
p = run(["diagnose", "--bundle", model, "--out", f"{tmp}/dx5", new], expect=2)
check("not a bundle" in error_line(p), f"plain model file: {p.stderr!r}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
