# The whole pipeline on a DICOM slide (issue 22): a series written by pydicom from the tiles of a
# vips pyramid (scripts/gen_dicom.py) and that pyramid's TIFF are the same slide, so `predict`
# must give the same windows and the same predictions on both (read at level 0 and, through the
# pyramid, at level 1), and `diagnose` on a folder holding the series finds one slide (not one
# per instance) with the same windows as the TIFF.
import csv
import json
import os
import sys

SRC = os.environ.get("DS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(SRC, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_dicom  # noqa: E402
import pydicom  # noqa: E402
from cli_harness import check, failures, run, tempdir  # noqa: E402

tmp = tempdir("ds_dicom_pipeline_")
for kind in ("tiff", "dicom"):
    os.makedirs(f"{tmp}/{kind}/a")
gen_dicom.write_series(f"{tmp}/dicom/a/s", width=800, height=600, seed=5, keep_tiff=f"{tmp}/tiff/a/s.tif")
slides = {"tiff": "a/s.tif", "dicom": "a/s/level0.dcm"}
run(["init-model", "--arch", "resnet18", "--classes", "a,b", "--patch-size", "64", "--seed", "3", "--out",
     f"{tmp}/m.safetensors"])


def predictions(kind, *extra):
    with open(f"{tmp}/{kind}.csv", "w") as f:
        f.write(f"img,gt\n{slides[kind]},a\n")
    out = f"{tmp}/out_{kind}_{len(extra)}"
    run(["predict", "--model", f"{tmp}/m.safetensors", "--all-wsi", f"{tmp}/{kind}", "--labels",
         f"{tmp}/{kind}.csv", "--out", out, "--tissue", "otsu", "--overlap", "1", "--quiet", *extra])
    rows = []
    for name in sorted(os.listdir(out)):
        if name.endswith(".csv"):
            with open(os.path.join(out, name)) as f:
                rows += list(csv.DictReader(f))
    return rows


for extra in ((), ("--level", "1")):
    t, d = predictions("tiff", *extra), predictions("dicom", *extra)
    check(len(t) > 0, f"predict {extra}: no windows on the TIFF")
    check(t == d, f"predict {extra}: DICOM and TIFF differ ({len(d)} vs {len(t)} windows; first "
                  f"{next(((a, b) for a, b in zip(d, t) if a != b), None)})")
    print(f"predict {' '.join(extra) or '--level 0'}: {len(t)} windows, identical")

# The prediction key covers every instance of the series, not only the file named in the labels:
# a rerun skips the slide, and redoes it once another level's instance changed.
def predict_again(*extra):
    return run(["predict", "--model", f"{tmp}/m.safetensors", "--all-wsi", f"{tmp}/dicom", "--labels",
                f"{tmp}/dicom.csv", "--out", f"{tmp}/out_dicom_2", "--tissue", "otsu", "--overlap", "1", *extra])


p = predict_again("--level", "1")
check("up to date, skipped" in p.stderr and "redone" not in p.stderr, f"an unchanged series is skipped: {p.stderr[-600:]}")
level1 = pydicom.dcmread(f"{tmp}/dicom/a/s/level1.dcm")
level1.ContentTime = "235959"  # another file, the same pixels
level1.save_as(f"{tmp}/dicom/a/s/level1.dcm")
p = predict_again("--level", "1")
check("redone: the slide file changed" in p.stderr, f"a changed level-1 instance redoes the slide: {p.stderr[-600:]}")
print("predict: a changed instance of the series redoes the slide")

# diagnose on a folder: the series is one slide (not one per instance), with the TIFF's windows,
# scores and diagnosis.
agg = {"method": "logistic", "classes": ["a", "b"], "lambda": 1.0, "weights": [[1, 0, 0, 0], [0, 1, 0, 0]],
       "bias": [0, 0], "name": "made_for_the_test"}
json.dump(agg, open(f"{tmp}/agg.json", "w"))
run(["bundle", "--model", f"{tmp}/m.safetensors", "--aggregator", f"{tmp}/agg.json", "--out", f"{tmp}/b.safetensors",
     "--level", "0", "--overlap", "1", "--tissue", "otsu"])
rows = {}
for kind in ("tiff", "dicom"):
    run(["diagnose", "--bundle", f"{tmp}/b.safetensors", f"{tmp}/{kind}", "--out", f"{tmp}/diag_{kind}", "--quiet"])
    with open(f"{tmp}/diag_{kind}/diagnoses.csv") as f:
        rows[kind] = list(csv.DictReader(f))
check(len(rows["dicom"]) == 1, f"diagnose found {len(rows['dicom'])} slides in the DICOM folder (one expected)")
if len(rows["dicom"]) == 1 and len(rows["tiff"]) == 1:
    for key in ("diagnosis", "confidence", "score_a", "score_b", "windows"):
        check(rows["tiff"][0][key] == rows["dicom"][0][key],
              f"diagnose {key}: {rows['dicom'][0][key]} on DICOM, {rows['tiff'][0][key]} on the TIFF")
    check(os.path.isdir(f"{tmp}/diag_dicom/s"), f"the DICOM slide's folder is not named after its series' folder: "
          f"{os.listdir(f'{tmp}/diag_dicom')}")
    print(f"diagnose: {rows['dicom'][0]['windows']} windows, {rows['dicom'][0]['diagnosis']}, identical")

    check(rows["dicom"][0]["slide"] == f"{tmp}/dicom/a/s", f"diagnoses.csv names {rows['dicom'][0]['slide']}, "
          "not the series' folder")

# Two series in one folder (files renamed apart) are two slides, each diagnosed; a label CSV may name
# a series by its folder; serve lists a series once, and a sub-folder's series too.
import shutil  # noqa: E402
os.makedirs(f"{tmp}/pacs/two")
gen_dicom.write_series(f"{tmp}/other", width=640, height=480, seed=6)
for src, prefix in ((f"{tmp}/dicom/a/s", "x_"), (f"{tmp}/other", "y_")):
    for f in os.listdir(src):
        if f.endswith(".dcm"):
            shutil.copy(f"{src}/{f}", f"{tmp}/pacs/two/{prefix}{f}")
run(["diagnose", "--bundle", f"{tmp}/b.safetensors", f"{tmp}/pacs", "--out", f"{tmp}/diag_two", "--quiet"])
with open(f"{tmp}/diag_two/diagnoses.csv") as f:
    two = list(csv.DictReader(f))
check(len(two) == 2 and sorted(os.path.basename(r["slide"])[:2] for r in two) == ["x_", "y_"],
      f"two series in one folder: {[r['slide'] for r in two]}")
with open(f"{tmp}/series.csv", "w") as f:
    f.write("img,gt\na/s,a\n")
p = run(["diagnose", "--bundle", f"{tmp}/b.safetensors", "--labels", f"{tmp}/series.csv", f"{tmp}/dicom", "--out",
         f"{tmp}/diag_labels", "--quiet"])
check(os.path.isdir(f"{tmp}/diag_labels/s"), f"--labels naming a series' folder: {p.stdout[-300:]} {p.stderr[-300:]}")
from serve_harness import Server  # noqa: E402
srv = Server(f"{tmp}/dicom/a/s", f"{tmp}/pacs")
try:
    names = sorted(x["name"] for x in json.loads(srv.get("/api/slides")[2]))
finally:
    srv.stop()
check(len(names) == 3 and "s" in names, f"serve: a series once, two series of a sub-folder: {names}")
# The diagnose folders of a series (recorded as its folder) and of two series in one folder (each
# recorded as a file of its own) are served with their diagnoses.
srv = Server(f"{tmp}/diag_dicom", f"{tmp}/diag_two")
try:
    served = json.loads(srv.get("/api/slides")[2])
finally:
    srv.stop()
check(len(served) == 3 and all(x["predictions"] == "diagnose" for x in served),
      f"serve on diagnose folders of DICOM series: {served}")
print("two series in one folder: two slides; a series named by its folder; serve lists each once")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("dicom pipeline: all checks passed")
