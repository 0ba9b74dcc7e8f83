#!/usr/bin/python3
"""What `deepslide predict` writes and when it redoes it:
- two slides with one stem in two class folders (a/s.tif, b/s.tif) get two CSVs, named by the
  documented rule, and search, evaluate and visualize find each through predict.json;
- each CSV has a key file: predicting with model A, then model B into the same folder redoes
  every slide and says why (one line each); B again skips them all; a changed flag or slide file
  is a reason too, and so are another deepslide executable (a rebuild may round differently) and
  DEEPSLIDE_CONV_1X1=rows (another summation order);
- bad slides among good ones (corrupt, declaring a huge image, truncated, a folder) are each
  reported on one line naming the file, counted in the summary, the good slides are predicted,
  and the exit code is 2.
Run by ctest (DEEPSLIDE set)."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile_files  # noqa: E402
from cli_harness import DEEPSLIDE, check, failures, out_name, run, tempdir  # noqa: E402

tmp = tempdir("ds_predict_outputs_")
wsi = f"{tmp}/wsi"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "2", "--width", "400", "--height", "300",
     "--seed", "8"])
a, b = sorted(os.listdir(wsi))
sa = sorted(os.listdir(f"{wsi}/{a}"))
sb = sorted(os.listdir(f"{wsi}/{b}"))
# Same stem, two classes, different pixels: b/<first of a>.tif is b's second slide renamed.
os.replace(f"{wsi}/{b}/{sb[1]}", f"{wsi}/{b}/{sa[0]}")
rows = [(f"{a}/{sa[0]}", a), (f"{a}/{sa[1]}", a), (f"{b}/{sa[0]}", b), (f"{b}/{sb[0]}", b)]
with open(f"{tmp}/labels.csv", "w") as f:
    f.write("img,gt\n" + "".join(f"{i},{g}\n" for i, g in rows))
for seed, m in ((1, "A"), (2, "B")):
    run(["init-model", "--arch", "resnet18", "--classes", f"{a},{b}", "--patch-size", "32", "--seed", str(seed),
         "--out", f"{tmp}/{m}.safetensors"])
preds = f"{tmp}/preds"


def predict(model, *extra, expect=0, labels=f"{tmp}/labels.csv"):
    return run(["predict", "--model", f"{tmp}/{model}.safetensors", "--all-wsi", wsi, "--labels", labels,
                "--out", preds, "--overlap", "1", "--threads", "2", "--batch-size", "32", *extra], expect=expect)


def csv_bytes(img):
    path = f"{preds}/{out_name(img)}.csv"
    return open(path, "rb").read() if os.path.exists(path) else None


# ---- same stem, two slides
predict("A")
same = [csv_bytes(rows[0][0]), csv_bytes(rows[2][0])]
check(None not in same, f"both same-stem slides have a CSV: {sorted(os.listdir(preds))}")
check(same[0] != same[1], "the same-stem slides' CSVs differ (different slides)")
meta = json.load(open(f"{preds}/predict.json"))
check(sorted(meta["slides"]) == sorted(out_name(i) for i, _ in rows), f"predict.json slides {sorted(meta['slides'])}")
for i, g in rows:
    e = meta["slides"].get(out_name(i), {})
    check(e.get("img") == i and e.get("gt") == g and e.get("csv") == out_name(i) + ".csv", f"entry {e}")
    check(os.path.exists(f"{preds}/{out_name(i)}.key.json"), f"key file of {i}")
run(["search", "--preds", preds, "--labels", f"{tmp}/labels.csv", "--out", f"{tmp}/search"])
cand = open(f"{tmp}/search/candidates/majority.csv").read().splitlines()
check(sorted(line.split(",")[0] for line in cand[1:]) == sorted(i for i, _ in rows), f"search rows {cand}")
run(["evaluate", "--preds", preds, "--labels", f"{tmp}/labels.csv", "--aggregator",
     f"{tmp}/search/aggregator.json", "--out", f"{tmp}/eval"])
slides = open(f"{tmp}/eval/slides.csv").read().splitlines()
check(len(slides) == 1 + len(rows), f"evaluate lists every slide: {slides}")
run(["visualize", "--all-wsi", wsi, "--labels", f"{tmp}/labels.csv", "--preds", preds, "--out", f"{tmp}/vis",
     "--threads", "2"])
vis = json.load(open(f"{tmp}/vis/visualize.json"))
check(sorted(vis["slides"]) == sorted(out_name(i) for i, _ in rows), f"visualize.json slides {sorted(vis['slides'])}")
check(os.path.exists(f"{tmp}/vis/{out_name(rows[2][0])}_dots.png"), "pictures named by the output name")

# ---- keyed reruns
p = predict("B")
redone = [line for line in p.stderr.splitlines() if "redone: the model file changed" in line]
check(len(redone) == len(rows), f"model B redoes every slide, saying why: {p.stderr[-800:]}")
check(csv_bytes(rows[0][0]) != same[0], "model B's CSV differs from model A's")
p = predict("B")
check(p.stderr.count("up to date, skipped") == len(rows) and "redone" not in p.stderr, f"B again skips: {p.stderr[-600:]}")
# Another build of deepslide (here the same program with bytes appended, which still runs): its
# kernels may round differently, so every slide is redone, and again with the first binary.
rebuilt = f"{tmp}/deepslide_rebuilt"
shutil.copyfile(DEEPSLIDE, rebuilt)
os.chmod(rebuilt, 0o755)
with open(rebuilt, "ab") as f:
    f.write(b"\0" * 16)
args = ["predict", "--model", f"{tmp}/B.safetensors", "--all-wsi", wsi, "--labels", f"{tmp}/labels.csv", "--out",
        preds, "--overlap", "1", "--threads", "2", "--batch-size", "32"]
p = subprocess.run([rebuilt] + args, capture_output=True, text=True)
check(p.returncode == 0 and p.stderr.count("redone: the deepslide program changed (another build)") == len(rows),
      f"another executable redoes every slide: exit {p.returncode}: {p.stderr[-800:]}")
p = predict("B")
check(p.stderr.count("redone: the deepslide program changed (another build)") == len(rows),
      f"the first executable again redoes them: {p.stderr[-800:]}")
# The 1x1 convolutions on the rows scheduler sum in another order: a reason too.
p = subprocess.run([DEEPSLIDE] + args, capture_output=True, text=True, env=dict(os.environ, DEEPSLIDE_CONV_1X1="rows"))
check(p.returncode == 0 and p.stderr.count("redone: the convolution algorithm changed") == len(rows),
      f"DEEPSLIDE_CONV_1X1=rows redoes every slide: exit {p.returncode}: {p.stderr[-800:]}")
p = predict("B")
check(p.stderr.count("redone: the convolution algorithm changed") == len(rows), f"and back: {p.stderr[-800:]}")
# Reading by a reader thread or by the network's threads between batches: the same bytes.
before = {i: csv_bytes(i) for i, _ in rows}
for readers in ("1", "0"):
    predict("B", "--force", "--readers", readers)
    check(all(csv_bytes(i) == before[i] for i, _ in rows), f"--readers {readers} writes the same CSVs")
p = predict("B", "--readers", "two", expect=2)
check("--readers must be auto or a count" in p.stderr, f"bad --readers: {p.stderr[-300:]}")
p = predict("B", "--purple-threshold", "90")
check(p.stderr.count("redone: --purple_threshold changed (100 -> 90)") == len(rows), f"flag as reason: {p.stderr[-600:]}")
with open(f"{wsi}/{rows[1][0]}", "ab") as f:
    f.write(b"\0" * 16)  # the same pixels, another file
p = predict("B", "--purple-threshold", "90")
check(p.stderr.count("redone: the slide file changed") == 1 and p.stderr.count("skipped") == len(rows) - 1,
      f"changed slide file: {p.stderr[-600:]}")
with open(f"{preds}/{out_name(rows[3][0])}.csv", "a") as f:
    f.write("0,0,a,1,1,0\n")
p = predict("B", "--purple-threshold", "90")
check("redone: its CSV is not the one its key file describes" in p.stderr, f"edited CSV: {p.stderr[-600:]}")

# ---- bad slides among good ones
bad = {
    f"{a}/corrupt.tif": b"II*\x00" + b"\x00" * 20,
    f"{a}/huge.tif": hostile_files.huge_side(),
    f"{b}/truncated.tif": open(f"{wsi}/{rows[3][0]}", "rb").read()[:3000],
}
for img, data in bad.items():
    with open(f"{wsi}/{img}", "wb") as f:
        f.write(data)
os.makedirs(f"{wsi}/{b}/folder.tif")
bad_rows = [(i, i.split("/")[0]) for i in bad] + [(f"{b}/folder.tif", b)]
mixed = [rows[0], bad_rows[0], rows[1], bad_rows[1], bad_rows[2], rows[2], bad_rows[3], rows[3]]
with open(f"{tmp}/mixed.csv", "w") as f:
    f.write("img,gt\n" + "".join(f"{i},{g}\n" for i, g in mixed))
shutil.rmtree(preds)
p = predict("A", labels=f"{tmp}/mixed.csv", expect=2)
for i, _ in bad_rows:
    failed = [line for line in p.stderr.splitlines() if "FAILED" in line and i in line]
    check(len(failed) == 1 and (f"{wsi}/{i}" in failed[0] or "folder" in i), f"{i}: one line naming the file: {failed}")
check(f"{len(bad_rows)} slides failed" in p.stdout, f"summary counts the failures: {p.stdout}")
check(p.stderr.strip().splitlines()[-1].startswith("deepslide: error: ") and "4 of 8 slides failed" in p.stderr,
      f"final error line: {p.stderr[-300:]}")
for i, _ in rows:
    check(csv_bytes(i) is not None, f"good slide {i} predicted despite the bad ones")
for i, _ in bad_rows:
    check(csv_bytes(i) is None, f"no CSV for bad slide {i}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
