#!/usr/bin/python3
"""`deepslide train` data sources and bad input. Slides mode: `deepslide synth` + `split`, then a
one-epoch run reads balanced training windows and overlap-1.5 validation windows from the slides
and writes a loadable checkpoint. A label CSV naming a missing slide: one line naming
it, training goes on without it, exit 2 at the end. Errors before any training (exit 2, one line
naming the file): a validation class absent from the training labels, an empty
class folder, a validation class folder missing from train, more than 1% unreadable or
wrong-size patch images, a --pretrained model of another architecture, a negative --max-steps; fewer than 1% bad images
are skipped, counted and listed. --pretrained keeps the backbone and re-initialises the
classifier when the class count differs. On a terminal, progress is one updating line. Run by
ctest."""
import glob
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import DEEPSLIDE, check, error_line, failures, model_metadata, run, tempdir  # noqa: E402
from train_test_data import make_patch_folder  # noqa: E402
from PIL import Image  # noqa: E402


tmp = tempdir("ds_train_data_")
common = ["--patch-size", "32", "--epochs", "1", "--threads", "2", "--checkpoint-minutes", "0"]

# Slides mode, one short epoch.
wsi, labels = f"{tmp}/wsi", f"{tmp}/labels"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "3", "--width", "800", "--height", "600",
     "--seed", "2"])
run(["split", "--all-wsi", wsi, "--out", labels, "--val-per-class", "1", "--test-per-class", "1"])
slides = ["train", "--all-wsi", wsi, "--labels-train", f"{labels}/labels_train.csv",
          "--labels-val", f"{labels}/labels_val.csv", "--level", "1", "--num-train-per-class", "16"] + common
p = run(slides + ["--out", f"{tmp}/slides_out"])
check("32 training" in p.stderr, "balanced training windows (2 x 16): " + p.stderr[:400])
ck = [c for c in glob.glob(f"{tmp}/slides_out/checkpoints/*.safetensors") if ".state." not in c]
check(len(ck) == 1, f"slides-mode checkpoints {ck}")
check(os.path.exists(f"{tmp}/slides_out/best.safetensors"), "no best.safetensors in slides mode")
# The model records the level it was trained at, and predict reads there unless told otherwise.
best = f"{tmp}/slides_out/best.safetensors"
check(json.loads(model_metadata(best).get("trained_at", "{}")) == {"level": 1},
      f"trained_at: {model_metadata(best).get('trained_at')}")
p = run(["predict", "--model", best, "--all-wsi", wsi, "--labels", f"{labels}/labels_val.csv", "--out",
         f"{tmp}/pred_trained_level", "--threads", "2"])
check("windows read at level 1, as the model was trained" in p.stderr, "predict at the training level: " + p.stderr[-400:])
check(json.load(open(f"{tmp}/pred_trained_level/predict.json"))["level"] == 1, "predict.json's level")
p = run(["predict", "--model", best, "--all-wsi", wsi, "--labels", f"{labels}/labels_val.csv", "--out",
         f"{tmp}/pred_level0", "--threads", "2", "--level", "0"])
check("as the model was trained" not in p.stderr and json.load(open(f"{tmp}/pred_level0/predict.json"))["level"] == 0,
      "--level 0 given: read at level 0, no note")

# A label CSV naming a missing slide: one line naming it and the CSV, training goes on without
# it, and the command exits 2 at the end with the count.
bad_csv = f"{tmp}/labels_missing.csv"
with open(bad_csv, "w") as f:
    f.write(open(f"{labels}/labels_train.csv").read() + "solid/nowhere.tif,solid\n")
p = run(slides[:4] + [bad_csv] + slides[5:] + ["--out", f"{tmp}/o1"], expect=2)
failed = [line for line in p.stderr.splitlines() if "FAILED: " in line]
check(len(failed) == 1 and "nowhere.tif" in failed[0] and bad_csv in failed[0], "missing slide: " + p.stderr[-600:])
check("slides failed and were left out of training" in error_line(p) and bad_csv in error_line(p),
      "missing slide, last line: " + error_line(p))
check(os.path.exists(f"{tmp}/o1/best.safetensors"), "training did not go on without the missing slide")

# A validation class that is not in the training labels.
bad_val = f"{tmp}/labels_val_extra.csv"
with open(bad_val, "w") as f:
    f.write("img,gt\nsolid/solid_000.tif,tumour\n")
p = run(slides[:6] + [bad_val] + slides[7:] + ["--out", f"{tmp}/o2"], expect=2)
check("tumour" in error_line(p) and bad_val in error_line(p), "unknown val class: " + error_line(p))

# Patch folders.
data = f"{tmp}/data"
make_patch_folder(data, size=32, train_per_class=60, val_per_class=6, seed=4)
folder = ["train", "--train-folder", data] + common + ["--max-steps", "1"]

# A negative --max-steps is refused before anything is written (it once ran as no limit).
p = run(folder[:-1] + ["-5", "--out", f"{tmp}/neg_steps"], expect=2)
check("--max-steps must be at least 1" in error_line(p), "--max-steps -5: " + error_line(p))
check(not os.path.exists(f"{tmp}/neg_steps/log.csv"), "--max-steps -5 started training")

# A flag that chooses slide windows, given with a patch folder, is refused (it was ignored).
p = run(folder + ["--num-train-per-class", "5", "--out", f"{tmp}/folder_npc"], expect=2)
check("--num-train-per-class" in error_line(p) and "--train-folder" in error_line(p),
      "--num-train-per-class with --train-folder: " + error_line(p))
# A mistyped input path is named before --out is made (it left OUT/.lock behind).
p = run(["train", "--train-folder", f"{tmp}/no_such_data"] + common + ["--out", f"{tmp}/typo_out"], expect=2)
check("no such folder" in error_line(p) and not os.path.exists(f"{tmp}/typo_out"),
      "a missing --train-folder: " + error_line(p))
p = run(slides[:4] + [f"{tmp}/no_such.csv"] + slides[5:] + ["--out", f"{tmp}/typo_out"], expect=2)
check("no such file" in error_line(p) and not os.path.exists(f"{tmp}/typo_out"),
      "a missing --labels-train: " + error_line(p))

d = f"{tmp}/empty_class"
shutil.copytree(data, d)
os.makedirs(f"{d}/train/empty")
p = run(["train", "--train-folder", d] + common + ["--out", f"{tmp}/o3"], expect=2)
check("empty" in error_line(p) and "no images" in error_line(p), "empty class: " + error_line(p))

d = f"{tmp}/val_only_class"
shutil.copytree(data, d)
os.makedirs(f"{d}/val/other")
Image.new("RGB", (32, 32)).save(f"{d}/val/other/x.png")
p = run(["train", "--train-folder", d] + common + ["--out", f"{tmp}/o4"], expect=2)
check("other" in error_line(p) and "missing from the training folder" in error_line(p), "val-only class: " + error_line(p))

# One bad image of 132 (< 1%... 1/132 = 0.76%): listed and skipped, training goes on.
d = f"{tmp}/one_bad"
shutil.copytree(data, d)
bad = f"{d}/train/dense/broken.png"
open(bad, "wb").write(b"not a png")
p = run(["train", "--train-folder", d, "--out", f"{tmp}/o5"] + common + ["--max-steps", "1"])
check("skipped 1 image" in p.stderr and bad in p.stderr, "one bad image not listed: " + p.stderr[:600])

# Two bad images of 133 (1.5%): refused before training.
Image.new("RGB", (48, 32)).save(f"{d}/val/sparse/wide.png")
p = run(["train", "--train-folder", d, "--out", f"{tmp}/o6"] + common, expect=2)
check("more than 1%" in error_line(p) and d in error_line(p), "2 bad of 133 not refused: " + error_line(p))
check(not os.path.exists(f"{tmp}/o6/log.csv"), "training started despite bad data")

# --pretrained: a 3-class model starts a 2-class run; its backbone is kept, fc re-initialised,
# mean/std still come from the data. An architecture mismatch is refused naming the file.

import struct  # noqa: E402

import numpy as np  # noqa: E402


def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        body = f.read()
    out = {k: np.frombuffer(body[v["data_offsets"][0]:v["data_offsets"][1]], dtype=np.float32).reshape(v["shape"])
           for k, v in head.items() if k != "__metadata__"}
    return out, head["__metadata__"]


pre = f"{tmp}/pre.safetensors"
run(["init-model", "--arch", "resnet18", "--classes", "x,y,z", "--patch-size", "32", "--seed", "77", "--out", pre])
p = run(folder + ["--pretrained", pre, "--lr", "1e-12", "--out", f"{tmp}/o7"])
got = [c for c in glob.glob(f"{tmp}/o7/checkpoints/*.safetensors") if ".state." not in c]
if got:
    t, meta = tensors(got[0])
    t0, _ = tensors(pre)
    check(np.abs(t["conv1.weight"] - t0["conv1.weight"]).max() < 1e-6, "pretrained backbone not used")
    check(t["fc.weight"].shape == (2, 512), f"fc shape {t['fc.weight'].shape}")
    check(json.loads(meta["mean"])[0] > 0.7, f"mean not from data: {meta['mean']}")
pre34 = f"{tmp}/pre34.safetensors"
run(["init-model", "--arch", "resnet34", "--classes", "x,y", "--patch-size", "32", "--out", pre34])
p = run(folder + ["--pretrained", pre34, "--out", f"{tmp}/o8"], expect=2)
check(pre34 in error_line(p) and "resnet34" in error_line(p), "arch mismatch of --pretrained: " + error_line(p))

# On a terminal the progress is one updating line (carriage returns, img/s, loss, ETA).
import pty  # noqa: E402

master, slave = pty.openpty()
proc = subprocess.Popen([DEEPSLIDE] + folder[:-1] + ["3", "--batch-size", "4", "--out", f"{tmp}/o9"],
                        stdout=subprocess.DEVNULL, stderr=slave)
os.close(slave)
tty_out = b""
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    tty_out += chunk
proc.wait()
os.close(master)
text = tty_out.decode(errors="replace")
check(proc.returncode == 0, "terminal run failed: " + text[-300:])
check(text.count("\repoch 1/1  batch") >= 2 and "\x1b[K" in text and "img/s" in text and "eta" in text and "loss" in text,
      "no updating progress line on a terminal: " + repr(text[-300:]))

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
shutil.rmtree(tmp)
