#!/usr/bin/python3
"""predict.json lists only CSVs made with the settings it records, since search, evaluate and
visualize read every slide it lists as made with them:
- two runs into one folder with the same settings (val slides, then test slides) keep both sets;
- a run with another model (or other windows) into that folder no longer lists the earlier
  slides it did not redo, says so (one line per slide, with why), and search then refuses the
  earlier label CSV instead of mixing CSVs of two models;
- a slide whose redo fails loses its entry (its old CSV was made from other bytes), and search
  refuses to use it instead of reading the stale CSV.
Run by ctest (DEEPSLIDE set)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, failures, out_name, run, tempdir  # noqa: E402

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

p = predict(m2, test, out)
check(listed(out) == sorted(out_name(r) for r in rels(test)), f"another model: still listed {listed(out)}")
check("2 slides of an earlier run are no longer listed in predict.json" in p.stdout, f"no note: {p.stdout}")
for r in rels(val):
    check(f"  {r}: the model file changed" in p.stdout, f"no line for {r}: {p.stdout}")
s = run(["search", "--preds", out, "--labels", val, "--out", f"{tmp}/search"], expect=2)
check("2 slides have no prediction CSV listed in" in s.stderr, f"search on unlisted slides: {s.stderr[-400:]}")

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

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
