#!/usr/bin/python3
"""`deepslide diagnose` interrupted and resumed, and --annotations on predict and diagnose.
- diagnose on a slide big enough to take some seconds with a tiny model (generated here), with
  --commit-seconds 0.2, killed once its first chunk is committed to DIR/<slide>/windows.partial:
  SIGTERM (exit 143, a message naming the partial file) and SIGKILL; each rerun resumes from the
  partial file (the outcome line says how many windows), ends with windows.csv byte-identical to
  an uninterrupted run's and the same diagnosis, and removes the partial file. Progress lines
  appear in the non-terminal form at a bounded rate; diagnosis.json records the time per stage.
- A run killed after windows.csv was written but before diagnosis.json (simulated by deleting
  diagnosis.json) reuses windows.csv instead of predicting again.
- An output edited (windows.csv) or cut short (a heatmap) after the run: the rerun redoes the
  slide, naming the file, instead of calling it current.
- --annotations: with a GeoJSON rectangle over the slide's left part, predict and diagnose keep
  exactly the windows the rectangle covers (counted here independently), a slide without an
  annotation file is predicted whole, and a changed annotation file makes a rerun of predict and
  of diagnose redo the slide and say why.
- Two slides with one stem diagnosed into one DIR by two runs each keep their own folder.
Run by ctest (DEEPSLIDE set)."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import (DEEPSLIDE, check, failures, interrupted_after_commit, out_name, partial_rows,  # noqa: E402
                         run, tempdir)

tmp = tempdir("ds_diagnose_resume_")
wsi = f"{tmp}/wsi"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "1", "--width", "1600", "--height", "1600",
     "--seed", "5"])
cls = sorted(os.listdir(wsi))
slide = f"{wsi}/{cls[0]}/{sorted(os.listdir(f'{wsi}/{cls[0]}'))[0]}"
model = f"{tmp}/m.safetensors"
run(["init-model", "--arch", "resnet18", "--classes", ",".join(cls), "--patch-size", "32", "--out", model])
agg = {"method": "mean_probability", "classes": cls, "name": "made_for_the_test"}
json.dump(agg, open(f"{tmp}/agg.json", "w"))
bundle = f"{tmp}/b.safetensors"
run(["bundle", "--model", model, "--aggregator", f"{tmp}/agg.json", "--out", bundle, "--overlap", "1", "--level", "0",
     "--tissue", "none"])
T = ["--threads", "2", "--batch-size", "16", "--commit-seconds", "0.2"]


def folder(out):
    """The slide's output folder under DIR (one slide per run here)."""
    subs = [d for d in os.listdir(out) if os.path.isdir(f"{out}/{d}")] if os.path.isdir(out) else []
    return f"{out}/{subs[0]}" if len(subs) == 1 else f"{out}/(no single slide folder: {subs})"


def read(path):
    return open(path, "rb").read() if os.path.exists(path) else b""


# Progress lines every 0.1 s: a fast CPU diagnoses this slide in about a second.
INTERVAL = 0.1
env = dict(os.environ, DEEPSLIDE_PROGRESS_INTERVAL=str(INTERVAL))
t0 = time.monotonic()
p = subprocess.run([DEEPSLIDE, "diagnose", "--bundle", bundle, "--out", f"{tmp}/ref", slide, *T], capture_output=True,
                   text=True, env=env)
elapsed = time.monotonic() - t0
check(p.returncode == 0, f"reference diagnose: exit {p.returncode}: {p.stderr[-600:]}")
ref_dir = folder(f"{tmp}/ref")
ref = read(f"{ref_dir}/windows.csv")
total = ref.count(b"\n") - 1
check(total > 800, f"{total} windows: the slide is too small to interrupt")
ref_rows = list(csv.reader(open(f"{tmp}/ref/diagnoses.csv"))) if os.path.exists(f"{tmp}/ref/diagnoses.csv") else []
lines = [line for line in p.stderr.splitlines() if line.startswith("diagnose: 1/1 ")]
check(len(lines) >= min(3, 1 + int(elapsed / INTERVAL)), f"progress lines appear in {elapsed:.2f} s: {p.stderr[-800:]}")
check(lines and "tissue scan" in lines[0], f"the first progress line is the tissue scan's: {lines[:1]}")
check(any("windows/s" in line and "ETA" in line for line in lines), f"rate and ETA shown: {lines[:3]}")
check(len(lines) <= elapsed / INTERVAL + 4, f"{len(lines)} progress lines in {elapsed:.1f} s at one per {INTERVAL} s")
check("\r" not in p.stderr, "no in-place redraw when stderr is not a terminal")
check("tissue scan" in p.stderr.splitlines()[-2] and "network" in p.stderr.splitlines()[-2],
      f"the outcome line says where the time went: {p.stderr.splitlines()[-2:]}")
rec = json.load(open(f"{ref_dir}/diagnosis.json")) if os.path.exists(f"{ref_dir}/diagnosis.json") else {}
for k in ("seconds", "scan_seconds", "read_seconds", "net_seconds", "resumed_windows"):
    check(k in rec.get("timings", {}), f"diagnosis.json timings has {k}: {rec.get('timings')}")
check(not os.path.exists(f"{ref_dir}/windows.partial"), "partial file removed once the slide is finished")


for sig, code in ((signal.SIGTERM, 143), (signal.SIGKILL, -9)):
    out = f"{tmp}/{sig.name}"
    rc, err = interrupted_after_commit(["diagnose", "--bundle", bundle, "--out", out, slide, *T],
                                       lambda: f"{folder(out)}/windows.partial", sig)
    check(rc == code, f"{sig.name}: exit {rc}, expected {code}: {err[-600:]}")
    d = folder(out)
    if sig == signal.SIGTERM:
        last = err.strip().splitlines()[-1] if err.strip() else ""
        check("interrupted (SIGTERM)" in last and "windows.partial" in last, f"SIGTERM message: {last!r}")
    check(not os.path.exists(f"{d}/diagnosis.json") and not os.path.exists(f"{d}/windows.csv"),
          f"{sig.name}: no outputs for an unfinished slide: {os.listdir(d) if os.path.isdir(d) else d}")
    rows = partial_rows(f"{d}/windows.partial")
    check(0 < rows < total, f"{sig.name}: {rows} of {total} rows committed")
    p = subprocess.run([DEEPSLIDE, "diagnose", "--bundle", bundle, "--out", out, slide, *T, "--quiet"],
                       capture_output=True, text=True, env=env)
    check(p.returncode == 0, f"{sig.name}: rerun exit {p.returncode}: {p.stderr[-600:]}")
    check(not any(line.startswith("diagnose: 1/1 ") for line in p.stderr.splitlines()), f"--quiet: {p.stderr[-400:]}")
    check(f"{rows} windows resumed" in p.stderr, f"{sig.name}: rerun resumes from row {rows}: {p.stderr[-600:]}")
    check(read(f"{d}/windows.csv") == ref, f"{sig.name}: resumed windows.csv differs from the uninterrupted run's")
    got = list(csv.reader(open(f"{out}/diagnoses.csv"))) if os.path.exists(f"{out}/diagnoses.csv") else []
    check(got and ref_rows and got[1][1:3] == ref_rows[1][1:3], f"{sig.name}: diagnosis {got[1:]} vs {ref_rows[1:]}")
    check(not os.path.exists(f"{d}/windows.partial"), f"{sig.name}: partial file removed")
    check(not [f for f in os.listdir(d) if ".tmp." in f], f"{sig.name}: temporaries left: {os.listdir(d)}")

# Killed while drawing: windows.csv is current, so it is reused, not predicted again.
os.remove(f"{ref_dir}/diagnosis.json")
p = run(["diagnose", "--bundle", bundle, "--out", f"{tmp}/ref", slide, *T])
check("windows.csv reused" in p.stderr, f"windows.csv reused after a kill while drawing: {p.stderr[-400:]}")
check(read(f"{ref_dir}/windows.csv") == ref, "reused windows.csv unchanged")

# An output edited or cut short after it was written: the slide is not "current"; it is redone and
# its files are as an uninterrupted run's again.
heat = sorted(f for f in os.listdir(ref_dir) if f.startswith("heatmap_"))[0]
for victim, edit in (("windows.csv", lambda b: b.replace(b",0.", b",1.", 1)),
                     (heat, lambda b: b[:1000])):
    good = read(f"{ref_dir}/{victim}")
    with open(f"{ref_dir}/{victim}", "wb") as f:
        f.write(edit(good))
    p = run(["diagnose", "--bundle", bundle, "--out", f"{tmp}/ref", slide, *T])
    check("1 diagnosed, 0 already current" in p.stderr and victim in p.stderr,
          f"{victim} edited: the slide should be redone, naming it: {p.stderr[-400:]}")
    check(read(f"{ref_dir}/{victim}") == good, f"{victim} edited: redone to the same bytes")

# ---- --annotations: a rectangle over the left part of the slide, in QuPath's GeoJSON
ann = f"{tmp}/ann"
os.makedirs(ann)
x1 = 800  # windows are 32 px at x = 0, 32, ...: those with x + 32 <= 800 lie inside, the rest outside
stem = os.path.splitext(os.path.basename(slide))[0]
height = json.loads(run(["info", slide]).stdout or "{}").get("levels", [{}])[0].get("height", 0)


def write_roi(x_end):
    geo = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"objectType": "annotation"},
           "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [x_end, 0], [x_end, height], [0, height], [0, 0]]]}}]}
    json.dump(geo, open(f"{ann}/{stem}.geojson", "w"))


write_roi(x1)
ref_xy = [tuple(map(int, r[:2])) for r in csv.reader(ref.decode().splitlines()[1:])]
inside = sorted((x, y) for x, y in ref_xy if x + 32 <= x1)
check(0 < len(inside) < len(ref_xy), f"{len(inside)} of {len(ref_xy)} windows inside the rectangle")
p = run(["diagnose", "--bundle", bundle, "--out", f"{tmp}/roi", slide, *T, "--annotations", ann])
got = [tuple(map(int, r[:2])) for r in csv.reader(read(f"{folder(f'{tmp}/roi')}/windows.csv").decode().splitlines()[1:])]
check(sorted(got) == inside, f"diagnose --annotations: {len(got)} windows, expected {len(inside)}")
check("inside its annotations" in p.stderr, f"diagnose says it used the annotations: {p.stderr[-300:]}")
rel = os.path.relpath(slide, wsi)
with open(f"{tmp}/labels.csv", "w") as f:
    f.write(f"img,gt\n{rel},{cls[0]}\n")
pargs = ["predict", "--model", bundle, "--all-wsi", wsi, "--labels", f"{tmp}/labels.csv", "--out", f"{tmp}/proi",
         *T, "--annotations", ann]
run(pargs)
pcsv = read(f"{tmp}/proi/{out_name(rel)}.csv")
check(pcsv == read(f"{folder(f'{tmp}/roi')}/windows.csv"), "predict --annotations: the same CSV as diagnose's")
write_roi(x1 + 64)
p = run(pargs)
check("the annotations changed" in p.stderr, f"a changed annotation file redoes the slide: {p.stderr[-400:]}")
n = read(f"{tmp}/proi/{out_name(rel)}.csv").count(b"\n") - 1
check(n == len([1 for x, y in ref_xy if x + 32 <= x1 + 64]), f"{n} windows inside the wider rectangle")
p = run(["diagnose", "--bundle", bundle, "--out", f"{tmp}/roi", slide, *T, "--annotations", ann])
check("the annotations changed" in p.stderr, f"diagnose redoes a slide whose annotations changed: {p.stderr[-400:]}")
os.remove(f"{ann}/{stem}.geojson")
p = run(pargs)
check(read(f"{tmp}/proi/{out_name(rel)}.csv") == ref, "a slide without an annotation file is predicted whole")

# Two slides with one stem diagnosed into one DIR in two runs (a/s.png, then b/s.png alone): the
# second gets a folder of its own (s-<hash>) and the first's results stay; a rerun of either is
# current in its folder.
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
for k, sub in enumerate(("a", "b")):
    os.makedirs(f"{tmp}/same/{sub}", exist_ok=True)
    Image.fromarray(np.random.default_rng(k).integers(0, 255, (160, 200, 3), dtype=np.uint8)).save(
        f"{tmp}/same/{sub}/s.png")
dx = f"{tmp}/same_out"
run(["diagnose", "--bundle", bundle, "--out", dx, f"{tmp}/same/a/s.png", *T, "--quiet"])
first = read(f"{dx}/s/diagnosis.json")
run(["diagnose", "--bundle", bundle, "--out", dx, f"{tmp}/same/b/s.png", *T, "--quiet"])
others = sorted(d for d in os.listdir(dx) if d.startswith("s-"))
check(read(f"{dx}/s/diagnosis.json") == first and len(others) == 1 and
      json.load(open(f"{dx}/{others[0]}/diagnosis.json"))["result"]["slide"].endswith("b/s.png"),
      f"two slides with one stem in two runs: folders {sorted(os.listdir(dx))}")
for sub in ("a", "b"):
    p = run(["diagnose", "--bundle", bundle, "--out", dx, f"{tmp}/same/{sub}/s.png", *T])
    check("1 already current" in p.stdout + p.stderr and sorted(d for d in os.listdir(dx) if os.path.isdir(f"{dx}/{d}")) ==
          ["s", others[0]], f"rerun of {sub}/s.png: {p.stdout}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
