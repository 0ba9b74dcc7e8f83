#!/usr/bin/python3
"""Accuracy on another lab's stain, whole slides end to end: `deepslide synth` writes training
slides (one lab) and test slides it has never seen, twice: as they are and redrawn with another
lab's stain (`--stain-shift`, the same tissue); one ResNet-18 per setting is trained in slides mode
(32-px windows at level 1, no colour jitter, so only the stain settings differ), then `predict`
runs on both versions of the test slides, and each window counts as right when its prediction is
its slide's class. Prints a table (BENCHMARKS.md, "Stain": per-slide fitting). Slow (a training
per setting):

  nice -n 19 /usr/bin/python3 bench/stain_slide_experiment.py [--seed 1] [--epochs 3] [--shift 1]
"""
import argparse
import csv
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from cli_harness import failures, run, tempdir  # noqa: E402

SETTINGS = {
    "none": [],
    "macenko, per window": ["--stain-norm", "macenko"],
    "macenko, per slide": ["--stain-norm", "macenko", "--stain-fit", "slide"],
    "reinhard, per slide": ["--stain-norm", "reinhard", "--stain-fit", "slide"],
    "vahadane, per slide": ["--stain-norm", "vahadane", "--stain-fit", "slide"],
}
W = ["--patch-size", "32", "--level", "1", "--threads", "2"]

ap = argparse.ArgumentParser()
ap.add_argument("--seed", default="1")
ap.add_argument("--epochs", default="3")
ap.add_argument("--shift", default="1")
ap.add_argument("--settings", default=";".join(SETTINGS), help="names from the table, separated by ';'")
args = ap.parse_args()
tmp = tempdir("ds_stain_slide_experiment_")
SLIDE = ["--classes", "2", "--slides-per-class", "4", "--width", "1536", "--height", "1536"]
run(["synth", "--out", f"{tmp}/train_wsi", "--seed", "7"] + SLIDE)
for name, shift in (("test_plain", "0"), ("test_shifted", args.shift)):
    run(["synth", "--out", f"{tmp}/{name}", "--seed", "8", "--stain-shift", shift] + SLIDE)
classes = sorted(os.listdir(f"{tmp}/train_wsi"))


def labels(folder, path, pick):
    rows = [f"{c}/{f},{c}\n" for c in classes for i, f in enumerate(sorted(os.listdir(f"{folder}/{c}"))) if pick(i)]
    with open(path, "w") as f:
        f.write("img,gt\n" + "".join(rows))
    return path


lt = labels(f"{tmp}/train_wsi", f"{tmp}/lt.csv", lambda i: i < 3)
lv = labels(f"{tmp}/train_wsi", f"{tmp}/lv.csv", lambda i: i == 3)
ltest = labels(f"{tmp}/test_plain", f"{tmp}/ltest.csv", lambda i: True)


def window_accuracy(model, wsi, out):
    p = run(["predict", "--model", model, "--all-wsi", wsi, "--labels", ltest, "--out", out, "--overlap", "1",
             "--quiet"] + W)
    if p.returncode != 0:
        return float("nan")
    right = total = 0
    # predict.json names each slide's CSV and class (the CSV names are escaped paths).
    for entry in json.load(open(f"{out}/predict.json"))["slides"].values():
        for row in csv.DictReader(open(f"{out}/{entry['csv']}")):
            right += row["prediction"] == entry["gt"]
            total += 1
    return right / max(1, total)


print("| setting (train flags) | windows right, test slides as they are | the same slides, another lab's stain |")
print("|---|---|---|")
for name in args.settings.split(";"):
    out = f"{tmp}/model_{len(os.listdir(tmp))}"
    p = run(["train", "--all-wsi", f"{tmp}/train_wsi", "--labels-train", lt, "--labels-val", lv,
             "--num-train-per-class", "300", "--epochs", args.epochs, "--seed", args.seed, "--out", out,
             "--checkpoint-minutes", "0", "--color-jitter-brightness", "0", "--color-jitter-contrast", "0",
             "--color-jitter-saturation", "0", "--color-jitter-hue", "0"] + W + SETTINGS[name])
    if p.returncode != 0:
        continue
    a = window_accuracy(f"{out}/best.safetensors", f"{tmp}/test_plain", f"{out}/pred_plain")
    b = window_accuracy(f"{out}/best.safetensors", f"{tmp}/test_shifted", f"{out}/pred_shifted")
    print(f"| {name} | {a:.3f} | {b:.3f} |", flush=True)
if failures:
    print("\n".join(failures))
    sys.exit(1)
