#!/usr/bin/python3
"""Outputs stay inside the folder a command was given, whatever the slides are called:
- diagnose names a slide's folder after its stem, or a DICOM series after its folder: a slide
  "...tif" (stem "..") and a series reached as "../level0.dcm" (folder "..") get folders inside
  --out ("%2E%2E", the series folder's real name), and nothing is written beside --out;
- patches, both layouts, with a slide "...tif": its patches stay under --out;
- patches with annotations: two slides with one stem whose annotations send both into one class
  folder get distinct names (before, one's patches replaced the other's);
- an output sub-folder planted as a symbolic link (to a folder outside) is refused with one line
  naming it, and nothing is written through it;
- a patch folder holds the patches of one set of settings (.patches.json): a rerun with the same
  settings is fine, one with others is refused before it writes a patch, and so is one whose label
  CSV gives a slide another class;
- names the CSVs cannot hold as they are (a class with a comma, or starting with '=' or '@': a
  spreadsheet would run it as a formula; a slide file name with a newline) are refused with one
  line, in a model file, a label CSV and the slides `split` lists, before anything is written;
- one writer per output folder: while OUT/.lock is held (here by this script), predict, diagnose,
  patches and train are refused with one line naming the folder, and write nothing; a FIFO
  planted as OUT/.lock is refused at once, not waited on;
- temporary files a killed process left (`<file>.tmp.<pid>.<n>`, its pid gone or a zombie) are
  swept by the next diagnose (its slides' folders too), patches (its class folders) and bundle
  (only the bundle file's own: its folder is the user's).
Run by ctest (DEEPSLIDE set)."""
import fcntl
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import DEEPSLIDE, check, failures, run, tempdir  # noqa: E402

DS = os.path.abspath(DEEPSLIDE)
tmp = tempdir("ds_output_paths_")
wsi = f"{tmp}/wsi"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "2", "--width", "600", "--height", "500",
     "--seed", "5"])
cls = sorted(os.listdir(wsi))
one = f"{wsi}/{cls[0]}/{sorted(os.listdir(f'{wsi}/{cls[0]}'))[0]}"
run(["split", "--all-wsi", wsi, "--out", f"{tmp}/labels", "--val-per-class", "1", "--test-per-class", "0"])
model = f"{tmp}/m.safetensors"
run(["init-model", "--arch", "resnet18", "--classes", ",".join(cls), "--patch-size", "32", "--out", model])
run(["predict", "--model", model, "--all-wsi", wsi, "--labels", f"{tmp}/labels/labels_val.csv", "--out",
     f"{tmp}/preds", "--overlap", "1", "--level", "1", "--quiet"])
run(["search", "--preds", f"{tmp}/preds", "--labels", f"{tmp}/labels/labels_val.csv", "--out", f"{tmp}/search"])
bundle = f"{tmp}/b.safetensors"
run(["bundle", "--model", model, "--aggregator", f"{tmp}/search/aggregator.json", "--out", bundle])


def run_in(cwd, args, expect=0):
    """run() from another working directory (relative paths are the point here)."""
    here = os.getcwd()
    os.chdir(cwd)
    try:
        import cli_harness
        old = cli_harness.DEEPSLIDE
        cli_harness.DEEPSLIDE = DS
        return run(args, expect)
    finally:
        cli_harness.DEEPSLIDE = old
        os.chdir(here)


def listing(folder):
    """The folder's entries but the lock a command holds on its --out while it writes (.lock)."""
    return sorted(f for f in os.listdir(folder) if f != ".lock")


# diagnose: a slide whose stem is "..".
d1 = f"{tmp}/d1"
os.makedirs(f"{d1}/w")
shutil.copy(one, f"{d1}/w/...tif")
run_in(d1, ["diagnose", "--bundle", bundle, "--out", "dx", "w/...tif", "--quiet"])
check(listing(d1) == ["dx", "w"], f"diagnose of '...tif' wrote beside --out: {listing(d1)}")
check(listing(f"{d1}/dx") == ["%2E%2E", "diagnoses.csv"], f"diagnose of '...tif': {listing(f'{d1}/dx')}")
check(os.path.exists(f"{d1}/dx/%2E%2E/diagnosis.json"), "diagnose of '...tif': no diagnosis.json in its folder")

# diagnose: a DICOM series reached through "..".
d2 = f"{tmp}/d2"
run(["convert", one, "--to", "dicom", "--out", f"{d2}/series"])
os.makedirs(f"{d2}/series/sub")
dcm = sorted(f for f in os.listdir(f"{d2}/series") if f.endswith(".dcm"))[0]
run_in(f"{d2}/series/sub", ["diagnose", "--bundle", bundle, "--out", "dx", f"../{dcm}", "--quiet"])
check(listing(f"{d2}/series/sub") == ["dx"], f"diagnose of ../{dcm} wrote beside --out: {listing(f'{d2}/series/sub')}")
check(listing(f"{d2}/series/sub/dx") == ["diagnoses.csv", "series"],
      f"diagnose of ../{dcm}: {listing(f'{d2}/series/sub/dx')}")

# patches, both layouts: a slide whose stem is "..".
p1 = f"{tmp}/p1"
os.makedirs(f"{p1}/all/c1")
os.makedirs(f"{p1}/work")
shutil.copy(one, f"{p1}/all/c1/...tif")
with open(f"{p1}/l.csv", "w") as f:
    f.write("img,gt\nc1/...tif,c1\n")
for flag, want in (([], "%2E%2E_"), (["--by-folder"], "%2E%2E")):
    shutil.rmtree(f"{p1}/work/out", ignore_errors=True)
    run_in(f"{p1}/work", ["patches", "--all-wsi", "../all", "--labels", "../l.csv", "--out", "out", "--patch-size",
                          "32", "--level", "1", "--overlap", "1", "--quiet"] + flag)
    check(listing(f"{p1}/work") == ["out"], f"patches {flag} of '...tif' wrote beside --out: {listing(f'{p1}/work')}")
    got = listing(f"{p1}/work/out/c1")
    check(len(got) > 0 and all(n.startswith(want) for n in got), f"patches {flag} of '...tif': {got[:4]}")
    check(listing(p1) == ["all", "l.csv", "work"], f"patches {flag} wrote into {p1}: {listing(p1)}")

# patches with annotations: two slides named s.tif in two class folders, both annotated as one class.
a = f"{tmp}/an"
os.makedirs(f"{a}/all/c1")
os.makedirs(f"{a}/all/c2")
os.makedirs(f"{a}/ann")
shutil.copy(one, f"{a}/all/c1/s.tif")
shutil.copy(f"{wsi}/{cls[1]}/{sorted(os.listdir(f'{wsi}/{cls[1]}'))[0]}", f"{a}/all/c2/s.tif")
with open(f"{a}/labels.csv", "w") as f:
    f.write("img,gt\nc1/s.tif,c1\nc2/s.tif,c2\n")
with open(f"{a}/ann/s.geojson", "w") as f:
    json.dump({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"classification": {"name": "c2"}},
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [400, 0], [400, 350], [0, 350], [0, 0]]]}}]}, f)
p = run(["patches", "--all-wsi", f"{a}/all", "--labels", f"{a}/labels.csv", "--out", f"{a}/out", "--patch-size", "32",
         "--level", "1", "--overlap", "1", "--annotations", f"{a}/ann", "--tissue", "none"])
wrote = [int(w) for w in p.stdout.split() if w.isdigit()]
files = sum(len([f for f in fs if f.endswith(".jpg")]) for _, _, fs in os.walk(f"{a}/out"))
check(wrote and wrote[0] == files and files > 0, f"patches with annotations: said {p.stdout.strip()}, {files} files")
names = sorted({n.rsplit("_", 2)[0] for n in listing(f"{a}/out/c2")})
check(names == ["c1%2Fs.tif", "c2%2Fs.tif"], f"patches with annotations, slide names: {names}")

# An annotation class a CSV cannot hold ("Tumor, grade 2", as QuPath users write them): predict
# uses only the regions and takes it; patches would make it a folder and a label, and refuses it.
os.makedirs(f"{a}/ann2")
with open(f"{a}/ann2/s.geojson", "w") as f:
    json.dump({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"classification": {"name": "Tumor, grade 2"}},
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [400, 0], [400, 350], [0, 350], [0, 0]]]}}]}, f)
run(["predict", "--model", model, "--all-wsi", f"{a}/all", "--labels", f"{a}/labels.csv", "--out", f"{a}/pred2",
     "--annotations", f"{a}/ann2", "--level", "1", "--overlap", "1", "--quiet"])
p = run(["patches", "--all-wsi", f"{a}/all", "--labels", f"{a}/labels.csv", "--out", f"{a}/out2", "--patch-size", "32",
         "--level", "1", "--overlap", "1", "--annotations", f"{a}/ann2", "--tissue", "none", "--quiet"], expect=2)
check("contains a comma" in p.stderr and "s.geojson" in p.stderr, f"patches with class 'Tumor, grade 2': {p.stderr[-300:]}")

# An output sub-folder planted as a link to a folder outside.
o = f"{tmp}/linked"
os.makedirs(f"{o}/out")
os.makedirs(f"{o}/outside")
stem = os.path.splitext(os.path.basename(one))[0]
os.symlink(f"{o}/outside", f"{o}/out/{stem}")
p = run(["diagnose", "--bundle", bundle, "--out", f"{o}/out", one, "--quiet"], expect=2)
check(f"{o}/out/{stem}: is a symbolic link" in p.stderr, f"diagnose through a link: {p.stderr[-600:]}")
check(listing(f"{o}/outside") == [], f"diagnose wrote through a link: {listing(f'{o}/outside')}")
os.makedirs(f"{o}/pout")
os.makedirs(f"{o}/pout_outside")
os.symlink(f"{o}/pout_outside", f"{o}/pout/{cls[0]}")
p = run(["patches", "--all-wsi", wsi, "--labels", f"{tmp}/labels/labels_val.csv", "--out", f"{o}/pout",
         "--patch-size", "32", "--level", "1", "--overlap", "1", "--quiet"], expect=2)
check(f"{o}/pout/{cls[0]}: is a symbolic link" in p.stderr, f"patches through a link: {p.stderr[-600:]}")
check(listing(f"{o}/pout_outside") == [], f"patches wrote through a link: {listing(f'{o}/pout_outside')}")

# A patch folder holds one set of settings (.patches.json): the same again is fine, others refused.
pp = f"{tmp}/pp"
args = ["patches", "--all-wsi", wsi, "--labels", f"{tmp}/labels/labels_val.csv", "--out", pp, "--patch-size", "32",
        "--overlap", "1", "--quiet"]
run(args + ["--level", "1"])
before = sorted(os.path.relpath(os.path.join(r, f), pp) for r, _, fs in os.walk(pp) for f in fs if f.endswith(".jpg"))
run(args + ["--level", "1"])
p = run(args + ["--level", "0"], expect=2)
after = sorted(os.path.relpath(os.path.join(r, f), pp) for r, _, fs in os.walk(pp) for f in fs if f.endswith(".jpg"))
check("holds patches made with other settings (level: 1, this run: 0)" in p.stderr and after == before,
      f"patches with other settings into one folder: {p.stderr[-300:]}, {len(before)} -> {len(after)} files")
check(json.load(open(f"{pp}/.patches.json"))["level"] == 1, "patches.json")
# The same slide under another class (the label CSV edited): refused before a patch is written.
relabelled = f"{tmp}/relabelled.csv"
rows_val = open(f"{tmp}/labels/labels_val.csv").read().splitlines()
img0, gt0 = rows_val[1].split(",")
other = [c for c in cls if c != gt0][0]
with open(relabelled, "w") as f:
    f.write("\n".join([rows_val[0], f"{img0},{other}"] + rows_val[2:]) + "\n")
p = run([a if a != f"{tmp}/labels/labels_val.csv" else relabelled for a in args] + ["--level", "1"], expect=2)
after = sorted(os.path.relpath(os.path.join(r, f), pp) for r, _, fs in os.walk(pp) for f in fs if f.endswith(".jpg"))
check(f"holds the patches of slide '{img0}' as class \"{gt0}\"" in p.stderr and after == before,
      f"patches of a relabelled slide: {p.stderr[-300:]}, {len(before)} -> {len(after)} files")
check(json.load(open(f"{pp}/.patches.json"))["slides"].get(img0) == gt0, "patches.json slides")

# Names the CSVs cannot hold: refused with one line naming where they came from, nothing written.
def with_classes(src, dst, classes):
    import struct
    b = open(src, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    head["__metadata__"]["classes"] = json.dumps(classes)
    raw = json.dumps(head).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    open(dst, "wb").write(struct.pack("<Q", len(raw)) + raw + b[8 + n:])


for bad, why in (("so,lid", "contains a comma"), ("=1+1", "starts with '='"), ("@SUM(A1)", "starts with '@'")):
    m = f"{tmp}/bad_class.safetensors"
    with_classes(model, m, [cls[0], bad])
    p = run(["predict", "--model", m, "--all-wsi", wsi, "--labels", f"{tmp}/labels/labels_val.csv", "--out",
             f"{tmp}/bad_preds", "--quiet"], expect=2)
    check(why in p.stderr and "bad_class.safetensors" in p.stderr and not os.path.exists(f"{tmp}/bad_preds"),
          f"class {bad!r} in a model: {p.stderr[-300:]}")
    with open(f"{tmp}/bad_labels.csv", "w") as f:
        f.write(f"img,gt\n{os.path.relpath(one, wsi)},{bad}\n")
    if "," not in bad:
        p = run(["patches", "--all-wsi", wsi, "--labels", f"{tmp}/bad_labels.csv", "--out", f"{tmp}/bad_patches",
                 "--patch-size", "32"], expect=2)
        check(why in p.stderr and "bad_labels.csv: line 2" in p.stderr, f"class {bad!r} in a label CSV: {p.stderr[-300:]}")
rel_one = os.path.relpath(one, wsi)
with open(f"{tmp}/dup_labels.csv", "w") as f:  # one slide under two spellings
    f.write(f"img,gt\n{rel_one},{cls[0]}\n./{rel_one},{cls[0]}\n")
p = run(["patches", "--all-wsi", wsi, "--labels", f"{tmp}/dup_labels.csv", "--out", f"{tmp}/dup_patches",
         "--patch-size", "32"], expect=2)
check("line 3" in p.stderr and "listed twice" in p.stderr, f"one slide listed as a/s and ./a/s: {p.stderr[-300:]}")
sp = f"{tmp}/split_names"
for folder, name, why in (("c1", "new\nline.tif", "control character"), ("=cmd", "s.tif", "starts with '='")):
    shutil.rmtree(sp, ignore_errors=True)
    for c in ("c0", folder):
        os.makedirs(f"{sp}/wsi/{c}", exist_ok=True)
        for i in range(3):
            shutil.copy(one, f"{sp}/wsi/{c}/s{i}.tif")
    shutil.copy(one, f"{sp}/wsi/{folder}/{name}")
    p = run(["split", "--all-wsi", f"{sp}/wsi", "--out", f"{sp}/out", "--val-per-class", "1", "--test-per-class", "1"],
            expect=2)
    check(why in p.stderr and "cannot be listed in a label CSV" in p.stderr and
          (not os.path.exists(f"{sp}/out") or listing(f"{sp}/out") == []), f"split of {folder}/{name!r}: {p.stderr}")
# diagnose --labels with a folder a spreadsheet would run as a formula (it heads every row's
# slide cell): refused, as such a folder is without --labels.
os.makedirs(f"{tmp}/=HYPERLINK(1)", exist_ok=True)
with open(f"{tmp}/formula_labels.csv", "w") as f:
    f.write(f"img,gt\n{rel_one},{cls[0]}\n")
p = run_in(tmp, ["diagnose", "--bundle", bundle, "--out", "dx_formula", "--labels", "formula_labels.csv",
                 "=HYPERLINK(1)", "--quiet"], expect=2)
check("starts with '='" in p.stderr and not os.path.exists(f"{tmp}/dx_formula/diagnoses.csv"),
      f"diagnose --labels in a folder named as a formula: {p.stderr[-300:]}")

# One writer per output folder: OUT/.lock held by another process refuses the command.
labels_val = f"{tmp}/labels/labels_val.csv"
for cmd, out, args in (
        ("predict", f"{tmp}/lk_preds", ["--model", model, "--all-wsi", wsi, "--labels", labels_val, "--level", "1"]),
        ("diagnose", f"{tmp}/lk_dx", ["--bundle", bundle, one]),
        ("patches", f"{tmp}/lk_patches", ["--all-wsi", wsi, "--labels", labels_val, "--patch-size", "32"]),
        ("train", f"{tmp}/lk_train", ["--all-wsi", wsi, "--labels-train", f"{tmp}/labels/labels_train.csv",
                                      "--labels-val", labels_val, "--patch-size", "32", "--level", "1",
                                      "--epochs", "1", "--num-train-per-class", "8", "--batch-size", "8",
                                      "--windows-csv", f"{tmp}/lk_train/windows.csv"])):
    os.makedirs(out)
    with open(f"{out}/.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        p = run([cmd, "--out", out, *args], expect=2)
        lines = p.stderr.strip().splitlines()
        check(len(lines) >= 1 and f"{out}: another deepslide {cmd} is writing into this folder" in lines[-1],
              f"{cmd} into a locked folder: {p.stderr[-300:]}")
        written = [f for f in os.listdir(out) if f != ".lock"]
        check(written == [], f"{cmd} into a locked folder wrote {written}")

# A FIFO planted as the lock is refused at once (opening it would wait for a writer for ever).
fifo_out = f"{tmp}/lk_fifo"
os.makedirs(fifo_out)
os.mkfifo(f"{fifo_out}/.lock")
try:
    p = subprocess.run([DS, "predict", "--out", fifo_out, "--model", model, "--all-wsi", wsi, "--labels", labels_val,
                        "--level", "1"], capture_output=True, text=True, timeout=60)
    check(p.returncode == 2 and f"{fifo_out}/.lock: not a regular file" in p.stderr,
          f"a FIFO as the folder's lock: exit {p.returncode} {p.stderr[-300:]}")
except subprocess.TimeoutExpired:
    check(False, "a FIFO as the folder's lock: predict hung")

# Temporaries of killed writers: a pid that is gone, and one that is a zombie (exited, not reaped).
gone = subprocess.Popen(["true"])
gone.wait()
zombie = subprocess.Popen(["true"])  # never waited for until the end: a zombie meanwhile
for _ in range(100):
    if open(f"/proc/{zombie.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
        break
    import time
    time.sleep(0.02)


def plant(folder):
    os.makedirs(folder, exist_ok=True)
    paths = [f"{folder}/x.png.tmp.{gone.pid}.3", f"{folder}/y.csv.tmp.{zombie.pid}.0",
             f"{folder}/alive.tmp.{os.getpid()}.1"]
    for path in paths:
        open(path, "w").close()
    return paths


dx = f"{tmp}/tmp_dx"
run(["diagnose", "--bundle", bundle, "--out", dx, one, "--quiet"])
slide_dir = f"{dx}/{os.path.splitext(os.path.basename(one))[0]}"
planted = plant(dx) + plant(slide_dir)
run(["diagnose", "--bundle", bundle, "--out", dx, one, "--quiet"])
check([os.path.exists(p) for p in planted] == [False, False, True] * 2, f"diagnose's sweep: {planted}")
pa = f"{tmp}/tmp_patches"
planted = plant(f"{pa}/{cls[0]}")
run(["patches", "--all-wsi", wsi, "--labels", labels_val, "--out", pa, "--patch-size", "32", "--quiet"])
check([os.path.exists(p) for p in planted] == [False, False, True], f"patches' sweep: {planted}")
bdir = f"{tmp}/tmp_bundle"  # the user's folder: only the bundle's own temporaries go
os.makedirs(bdir)
planted = [f"{bdir}/b.safetensors.tmp.{gone.pid}.0", f"{bdir}/b.safetensors.tmp.{zombie.pid}.2",
           f"{bdir}/b.safetensors.tmp.{os.getpid()}.1", f"{bdir}/notes.tmp.{gone.pid}.1"]
for path in planted:
    open(path, "w").close()
run(["bundle", "--model", model, "--aggregator", f"{tmp}/search/aggregator.json", "--out", f"{bdir}/b.safetensors"])
check([os.path.exists(p) for p in planted] == [False, False, True, True], f"bundle's sweep: {planted}")
zombie.wait()

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
