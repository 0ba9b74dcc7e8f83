#!/usr/bin/python3
"""Accuracy on another lab's stain, with and without stain normalisation or augmentation: the
two synthetic labs of tests/stain_labs.py (training lab A, held-out patches of A and of B, whose
stain vectors are turned and staining 1.4x heavier), one ResNet-18 per setting trained on A's
patches (32 px, no colour jitter, so only the stain settings differ) and scored by `classify` on
both labs. BENCHMARKS.md ("Stain") quotes its table. Slow (a training per setting and seed):

  nice -n 19 /usr/bin/python3 bench/stain_shift_experiment.py [--seeds 5,6] [--epochs 3]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from cli_harness import failures, run, tempdir  # noqa: E402
from stain_labs import LAB_A, LAB_B, SIZE, accuracy, write_set  # noqa: E402

SETTINGS = {
    "none": [],
    "reinhard": ["--stain-norm", "reinhard"],
    "macenko": ["--stain-norm", "macenko"],
    "vahadane": ["--stain-norm", "vahadane"],
    "aug hed (0.3, 0.1)": ["--stain-aug", "hed", "--stain-aug-scale", "0.3", "--stain-aug-shift", "0.1"],
    "aug matrix (0.3)": ["--stain-aug", "matrix", "--stain-aug-vectors", "0.3"],
    "aug both": ["--stain-aug", "both", "--stain-aug-scale", "0.3", "--stain-aug-shift", "0.1",
                 "--stain-aug-vectors", "0.3"],
}

ap = argparse.ArgumentParser()
ap.add_argument("--seeds", default="5")
ap.add_argument("--epochs", default="3")
args = ap.parse_args()
tmp = tempdir("ds_stain_experiment_")
write_set(f"{tmp}/data/train", LAB_A, 40, 1)
write_set(f"{tmp}/data/val", LAB_A, 12, 2)
same_lab = write_set(f"{tmp}/test_a", LAB_A, 30, 3)
other_lab = write_set(f"{tmp}/test_b", LAB_B, 30, 4)
print("| setting | seed | accuracy, training lab | accuracy, other lab |")
print("|---|---|---|---|")
for name, flags in SETTINGS.items():
    for seed in args.seeds.split(","):
        out = f"{tmp}/out_{len(os.listdir(tmp))}"
        p = run(["train", "--train-folder", f"{tmp}/data", "--patch-size", str(SIZE), "--epochs", args.epochs,
                 "--threads", "2", "--seed", seed, "--out", out, "--checkpoint-minutes", "0",
                 "--color-jitter-brightness", "0", "--color-jitter-contrast", "0",
                 "--color-jitter-saturation", "0", "--color-jitter-hue", "0"] + flags)
        if p.returncode != 0:
            continue
        a, b = (accuracy(f"{out}/best.safetensors", s) for s in (same_lab, other_lab))
        print(f"| {name} | {seed} | {a:.3f} | {b:.3f} |", flush=True)
if failures:
    print("\n".join(failures))
    sys.exit(1)
