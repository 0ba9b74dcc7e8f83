#!/usr/bin/python3
"""Progress inside the long stages other than predict and diagnose (those have their own tests):
`patches` (each slide's scan-and-write phase), `train`'s data scan (each slide's tissue scan before
the first step) and `visualize --gradcam` (each slide's thumbnail, then its Grad-CAM windows).
With stderr not a terminal and DEEPSLIDE_PROGRESS_INTERVAL=0 (a line per step), each prints plain progress lines
naming the phase with done/total and a rate, never a carriage return, and --quiet (patches,
visualize) prints none while keeping the per-slide outcome lines. Run by ctest (DEEPSLIDE set)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import DEEPSLIDE, check, failures, run, tempdir  # noqa: E402

tmp = tempdir("ds_progress_")
wsi = f"{tmp}/wsi"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "2", "--width", "700", "--height", "600",
     "--seed", "3"])
run(["split", "--all-wsi", wsi, "--out", f"{tmp}/labels", "--val-per-class", "1", "--test-per-class", "0"])
cls = sorted(os.listdir(wsi))
env = dict(os.environ, DEEPSLIDE_PROGRESS_INTERVAL="0")  # a line at every step: phases too short to be timed still show
T = ["--threads", "2"]


def go(args):
    p = subprocess.run([DEEPSLIDE, *args], capture_output=True, text=True, env=env)
    check(p.returncode == 0, f"deepslide {' '.join(args)}: exit {p.returncode}: {p.stderr[-600:]}")
    return p.stderr


def progress_lines(err, job):
    return [line for line in err.splitlines() if line.startswith(f"{job}: ") and "/s" in line]


labels = f"{tmp}/labels/labels_train.csv"
# patches
err = go(["patches", "--all-wsi", wsi, "--labels", labels, "--out", f"{tmp}/patches", "--patch-size", "32",
          "--overlap", "1", "--tissue", "none"] + T)
lines = progress_lines(err, "patches")
check(any("scan and write" in line and "windows" in line for line in lines), f"patches progress: {err[-800:]}")
check("\r" not in err, "patches: no in-place redraw when stderr is not a terminal")
err = go(["patches", "--all-wsi", wsi, "--labels", labels, "--out", f"{tmp}/patches_q", "--patch-size", "32",
          "--overlap", "1", "--tissue", "none", "--quiet"] + T)
check(not progress_lines(err, "patches") and "[1/" in err, f"patches --quiet: outcome lines only: {err[-400:]}")

# train's data scan
err = go(["train", "--all-wsi", wsi, "--labels-train", labels, "--labels-val", f"{tmp}/labels/labels_val.csv",
          "--out", f"{tmp}/train", "--patch-size", "32", "--arch", "resnet18", "--tissue", "none", "--batch-size", "4",
          "--max-steps", "1", "--num-train-per-class", "200", "--epochs", "1"] + T)
lines = progress_lines(err, "train data")
check(any("tissue scan" in line for line in lines), f"train data-scan progress: {err[-800:]}")
check(all("/" in line.split()[2] for line in lines), f"lines say item k/n: {lines[:2]}")

# visualize --gradcam
model = f"{tmp}/m.safetensors"
run(["init-model", "--arch", "resnet18", "--classes", ",".join(cls), "--patch-size", "32", "--out", model])
run(["predict", "--model", model, "--all-wsi", wsi, "--labels", labels, "--out", f"{tmp}/preds", "--overlap", "1",
     "--tissue", "none", "--quiet"] + T)
err = go(["visualize", "--all-wsi", wsi, "--labels", labels, "--preds", f"{tmp}/preds", "--out", f"{tmp}/vis",
          "--gradcam", "3", "--model", model, "--thumb-size", "128"] + T)
lines = progress_lines(err, "visualize")
check(any("grad-cam" in line for line in lines), f"visualize progress shows the Grad-CAM phase: {err[-800:]}")
err = go(["visualize", "--all-wsi", wsi, "--labels", labels, "--preds", f"{tmp}/preds", "--out", f"{tmp}/vis_q",
          "--gradcam", "1", "--model", model, "--thumb-size", "128", "--quiet"] + T)
check(not progress_lines(err, "visualize") and "pictures" in err, f"visualize --quiet: {err[-400:]}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
