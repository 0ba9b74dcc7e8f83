#!/usr/bin/python3
"""predict.json lists only CSVs made with the settings it records, since search, evaluate and
visualize read every slide it lists as made with them:
- two runs into one folder with the same settings (val slides, then test slides) keep both sets;
- a label CSV that gives a slide another class skips the slide and its entry takes the new class;
- a run with another model (or other windows) into that folder no longer lists the earlier
  slides it did not redo, says so (one line per slide, with why), and search then refuses the
  earlier label CSV instead of mixing CSVs of two models;
- back to the first model, the slides found up to date are listed again (entries rebuilt from
  the slides and CSVs), and search takes them;
- a rerun with another model stopped mid-slide lists none of the old model's CSVs;
- a slide changed in the middle only (size, first and last MB kept) is redone: the key holds the
  whole file's SHA-256, remembered in .slide-hashes.json so a rerun of unchanged slides reads
  none of them (a remembered value that is not a SHA-256 is not trusted);
- a slide whose redo fails loses its entry (its old CSV was made from other bytes), and search
  refuses to use it instead of reading the stale CSV; so does a slide replaced by another whose
  redo was stopped (its key file is gone: the CSV is not one predict finished for this slide).
Run by ctest (DEEPSLIDE set)."""
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import DEEPSLIDE, check, failures, interrupted_after_commit, out_name, run, tempdir  # noqa: E402

tmp = tempdir("ds_predict_json_runs_")
wsi = f"{tmp}/wsi"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "3", "--width", "600", "--height", "500",
     "--seed", "6"])
cls = sorted(os.listdir(wsi))
run(["split", "--all-wsi", wsi, "--out", f"{tmp}/labels", "--val-per-class", "1", "--test-per-class", "1"])
val, test = f"{tmp}/labels/labels_val.csv", f"{tmp}/labels/labels_test.csv"
m1, m2 = f"{tmp}/m1.safetensors", f"{tmp}/m2.safetensors"
for m, seed in ((m1, "1"), (m2, "2")):
    run(["init-model", "--arch", "resnet18", "--classes", ",".join(cls), "--patch-size", "32", "--out", m, "--seed",
         seed])


def rels(labels):
    return [line.split(",")[0] for line in open(labels).read().splitlines()[1:]]


def listed(out):
    return sorted(json.load(open(f"{out}/predict.json"))["slides"])


def predict(model, labels, out, expect=0, extra=()):
    return run(["predict", "--model", model, "--all-wsi", wsi, "--labels", labels, "--out", out, "--level", "1",
                "--overlap", "1", "--quiet", *extra], expect)


out = f"{tmp}/preds"
predict(m1, val, out)
predict(m1, test, out)
both = sorted(out_name(r) for r in rels(val) + rels(test))
check(listed(out) == both, f"same settings twice: listed {listed(out)}, expected {both}")
# A label CSV that gives a slide another class: the slide is up to date (its windows do not depend
# on the class) and its entry says the new class.
relabelled = f"{tmp}/labels_val_relabelled.csv"
rows = [line.split(",") for line in open(val).read().splitlines()[1:]]
other_class = {rows[0][1]: [c for c in cls if c != rows[0][1]][0]}
open(relabelled, "w").write("img,gt\n" + "".join(f"{r[0]},{other_class.get(r[1], r[1]) if i == 0 else r[1]}\n"
                                                for i, r in enumerate(rows)))
p = predict(m1, relabelled, out)
entries = {e["img"]: e for e in json.load(open(f"{out}/predict.json"))["slides"].values()}
check("up to date, skipped" in p.stdout and entries[rows[0][0]]["gt"] == other_class[rows[0][1]] and
      entries[rows[1][0]]["gt"] == rows[1][1], f"relabelled slide's entry: {entries.get(rows[0][0])}")
predict(m1, val, out)

p = predict(m2, test, out)
check(listed(out) == sorted(out_name(r) for r in rels(test)), f"another model: still listed {listed(out)}")
check("2 slides of an earlier run are no longer listed in predict.json" in p.stdout, f"no note: {p.stdout}")
for r in rels(val):
    check(f"  {r}: the model file changed" in p.stdout, f"no line for {r}: {p.stdout}")
s = run(["search", "--preds", out, "--labels", val, "--out", f"{tmp}/search"], expect=2)
check("2 slides have no finished prediction CSV listed in" in s.stderr, f"search on unlisted slides: {s.stderr[-400:]}")
# Back to the first model on the val slides: up to date, skipped, and listed again (entries rebuilt).
p = predict(m1, val, out)
meta = json.load(open(f"{out}/predict.json"))
check("2 slides up to date, skipped" in p.stdout and sorted(meta["slides"]) == sorted(out_name(r) for r in rels(val)) and
      all(e["windows"] > 0 and e["window_side"] > 0 for e in meta["slides"].values()),
      f"up to date again, relisted: {p.stdout[-200:]} {meta['slides']}")
run(["search", "--preds", out, "--labels", val, "--out", f"{tmp}/search"])

# A redo that fails: the slide's last bytes changed (a new identity), so it is redone, and fails.
out2 = f"{tmp}/preds2"
predict(m1, val, out2)
victim = rels(val)[0]
path = f"{wsi}/{victim}"
data = bytearray(open(path, "rb").read())
data[-4096:] = bytes(4096)
data[8:4096] = bytes(4088)
open(path, "wb").write(data)
p = predict(m1, val, out2, expect=2)
check(out_name(victim) not in listed(out2), f"failed slide still listed: {listed(out2)}")
check(len(listed(out2)) == 1, f"the other slide should stay listed: {listed(out2)}")
e = run(["search", "--preds", out2, "--labels", val, "--out", f"{tmp}/search2"], expect=2)
check(out_name(victim) in e.stderr and "predict.json" in e.stderr,
      f"search on a failed slide's stale CSV: exit {e.returncode} {e.stderr[-400:]}")

# A slide changed in the middle only (its size, first and last MB kept): the whole file's SHA-256
# is in the key, so predict and diagnose redo it rather than reuse the CSV of the old bytes. A rerun
# of unchanged slides does not read them again (.slide-hashes.json remembers the hashes).
big = f"{tmp}/big"
run(["synth", "--out", big, "--classes", "2", "--slides-per-class", "1", "--width", "3000", "--height", "2500",
     "--seed", "3", "--jpeg-quality", "98"])
rel = f"{cls[0]}/{os.listdir(f'{big}/{cls[0]}')[0]}"
with open(f"{tmp}/big.csv", "w") as f:
    f.write(f"img,gt\n{rel},{cls[0]}\n")
pb = ["predict", "--model", m1, "--all-wsi", big, "--labels", f"{tmp}/big.csv", "--out", f"{tmp}/pbig", "--level", "1",
      "--overlap", "1"]
run(pb)
import time  # noqa: E402
time.sleep(2.1)  # a file hashed within 2 s of its last change is not remembered (base/file_hash_cache.h)
run(pb)
p = run(pb)
check("1 slide up to date, skipped" in p.stdout, f"unchanged slide: {p.stdout[-300:]}")
hashes = json.load(open(f"{tmp}/pbig/.slide-hashes.json"))
check(len(hashes) == 1 and len(list(hashes.values())[0]["sha256"]) == 64, f".slide-hashes.json: {hashes}")
# A remembered hash that is not one (an edited cache) is not trusted: the slide is hashed again.
for v in hashes.values():
    v["sha256"] = "../../etc/passwd"
json.dump(hashes, open(f"{tmp}/pbig/.slide-hashes.json", "w"))
p = run(pb)
check("1 slide up to date, skipped" in p.stdout, f"an edited hash cache: {p.stdout[-300:]} {p.stderr[-300:]}")
# Another model on the same slide, stopped mid-slide: the old CSV is not listed under the new model.
# (At level 0, 4x the windows, so that the signal lands mid-slide on a loaded machine too.)
stopped = [m2 if a == m1 else "0" if prev == "--level" else a for prev, a in zip([None] + pb, pb)]
code, _ = interrupted_after_commit(stopped + ["--commit-seconds", "0", "--batch-size", "16"],
                                   f"{tmp}/pbig/{out_name(rel)}.partial", signal.SIGINT)
meta = json.load(open(f"{tmp}/pbig/predict.json"))
check(code == 130 and meta["model"] == m2 and meta["slides"] == {},
      f"interrupted run with another model: exit {code}, model {meta['model']}, listed {list(meta['slides'])}")
os.remove(f"{tmp}/pbig/{out_name(rel)}.partial")
run(pb)  # (the interrupted run removed the old key: redone with the first model)
# The slide replaced by another (same name), its redo stopped mid-slide: predict.json still lists
# the slide (the start cannot know it changed without reading it), but its key file is gone, so
# search refuses the old CSV rather than read predictions of the slide's old bytes.
path = f"{big}/{rel}"
original = open(path, "rb").read()
pb0 = [a if prev != "--level" else "0" for prev, a in zip([None] + pb, pb)]
pb0[pb0.index(f"{tmp}/pbig")] = f"{tmp}/pbig0"
run(pb0)
run(["synth", "--out", f"{tmp}/big2", "--classes", "2", "--slides-per-class", "1", "--width", "3000", "--height",
     "2500", "--seed", "4", "--jpeg-quality", "98"])
open(path, "wb").write(open(f"{tmp}/big2/{rel}", "rb").read())
code, _ = interrupted_after_commit(pb0 + ["--commit-seconds", "0", "--batch-size", "16"],
                                   f"{tmp}/pbig0/{out_name(rel)}.partial", signal.SIGINT)
check(code == 130, f"redo of a replaced slide, interrupted: exit {code}")
e = run(["search", "--preds", f"{tmp}/pbig0", "--labels", f"{tmp}/big.csv", "--out", f"{tmp}/search0"], expect=2)
check(out_name(rel) in e.stderr and "has no key file" in e.stderr,
      f"search on the CSV of a replaced slide whose redo stopped: {e.stderr[-400:]}")
e = run(["geojson", "--predictions", f"{tmp}/pbig0/predict.json", "--out", f"{tmp}/gj0"], expect=2)
check(out_name(rel) in e.stderr and "has no key file" in e.stderr,
      f"geojson of the CSV of a replaced slide whose redo stopped: {e.stderr[-400:]}")
open(path, "wb").write(original)

data = bytearray(open(path, "rb").read())
mid = len(data) // 2
check(len(data) > 3 << 20, f"the slide should be over 3 MB: {len(data)}")
data[mid:mid + 64] = bytes(64)  # (the tile there may no longer decode: the redo may fail, but is a redo)
open(path, "r+b").write(data)
p = subprocess.run([DEEPSLIDE, *pb], capture_output=True, text=True)  # exit 0 or 2: either way a redo
check("redone: the slide file changed" in p.stderr, f"slide changed in the middle: {p.stderr[-500:]}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
