#!/usr/bin/python3
"""Issue 27's numerics target for Winograd in training, on a small real dataset: validation accuracy
after 2 epochs of `deepslide train` with `--conv-algo winograd` (and `auto`) against `--conv-algo
direct`, same seed, same data.

The data: scikit-learn's copy of the UCI handwritten digits (1797 scanned 8x8 digits, 10 classes,
shipped in Debian's python3-sklearn, read from disk: nothing is downloaded), scaled to 32x32
grey patches in DeepSlide's train/val/<class> layout, a fixed third held out for validation.
Fashion-MNIST, the issue's dataset, is not on the machine. Flips and 90-degree rotations are off
(they change digits' meaning); colour jitter stays at train's defaults.

A fourth run, direct again under DEEPSLIDE_CONV_BLOCKING=tiny (another summation order, within
1e-5 relative of the default: README), shows how far fp32 rounding alone moves the same training:
the noise floor. The check: |winograd - direct| (and auto's) <= 0.5 points + |noise floor|. The
issue's plain 0.5 points cannot be asked of 2-epoch accuracy here: measured on an AMD EPYC Zen 3
(BENCHMARKS.md), the direct run moved by 7.2 points under the other summation order alone.
Not in `make test` (minutes on 2 cores: 4 trainings): `make accuracy-winograd`. Env DEEPSLIDE is
the binary (default build/deepslide)."""
import csv
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import DEEPSLIDE, check, failures, tempdir  # noqa: E402

TOLERANCE_POINTS = 0.5


def write_digits(root):
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    n_val = len(order) // 3
    for rank, i in enumerate(order):
        split = "val" if rank < n_val else "train"
        d = os.path.join(root, split, f"digit{digits.target[i]}")
        os.makedirs(d, exist_ok=True)
        grey = np.clip(digits.images[i] * (255.0 / 16.0), 0, 255).astype(np.uint8)
        img = Image.fromarray(grey).resize((32, 32), Image.BILINEAR).convert("RGB")
        img.save(os.path.join(d, f"{i:04d}.png"))
    return len(order) - n_val, n_val


def train(data, out, algo, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    args = [DEEPSLIDE, "--conv-algo", algo, "train", "--train-folder", data, "--patch-size", "32", "--epochs", "2",
            "--flips", "off", "--rot90", "off", "--seed", "7", "--out", out, "--checkpoint-minutes", "0"]
    t0 = time.time()
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    seconds = time.time() - t0
    check(p.returncode == 0, f"{' '.join(args)}: exit {p.returncode}: {p.stderr[-800:]}")
    if p.returncode != 0:
        return None, seconds
    rows = list(csv.reader(open(os.path.join(out, "log.csv"))))
    return 100.0 * float(rows[-1][4]), seconds  # the last epoch's val_acc, in points


tmp = tempdir("ds_wino_acc_")
data = os.path.join(tmp, "digits")
n_train, n_val = write_digits(data)
print(f"UCI digits: {n_train} training and {n_val} validation patches (one image = {100.0 / n_val:.2f} points)")
runs = [("direct", "direct", None), ("winograd", "winograd", None), ("auto", "auto", None),
        ("direct, tiny blocking", "direct", {"DEEPSLIDE_CONV_BLOCKING": "tiny"})]
acc = {}
for name, algo, env_extra in runs:
    acc[name], seconds = train(data, os.path.join(tmp, name.replace(" ", "_").replace(",", "")), algo, env_extra)
    print(f"{name:24s} val acc after 2 epochs: {acc[name]} ({seconds:.1f} s)", flush=True)

if None not in acc.values():
    check(acc["direct"] >= 50.0, f"direct training learned too little to compare: {acc['direct']} points")
    floor = acc["direct, tiny blocking"] - acc["direct"]
    print(f"noise floor (direct, another summation order) - direct: {floor:+.2f} points")
    # The 0.5 points, widened by what fp32 rounding alone moves the same training: a
    # difference inside that spread says nothing about Winograd.
    allowed = TOLERANCE_POINTS + abs(floor)
    for name in ("winograd", "auto"):
        diff = acc[name] - acc["direct"]
        print(f"{name} - direct: {diff:+.2f} points (allowed {allowed:.2f}: 0.5 + the noise floor)")
        check(abs(diff) <= allowed, f"{name}: {acc[name]:.2f} vs direct {acc['direct']:.2f} points")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
