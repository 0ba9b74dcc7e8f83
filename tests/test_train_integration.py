#!/usr/bin/python3
"""`deepslide train` end to end on a generated patch folder (DeepSlide's train/val/<class>
layout, two classes told apart by nuclei density under colour jitter, flips and rotations): a
ResNet-18 on 32x32 patches must reach clearly better than chance validation accuracy in two
epochs; log.csv has DeepSlide's header and one row per epoch with the decayed learning rate;
checkpoints are named <arch>_e<epoch>_va<acc>; best.safetensors is the best of them, carries the
mean/std computed from the data, and `deepslide classify` runs it on a patch. Run by ctest."""
import csv
import glob
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, failures, model_metadata, run, tempdir  # noqa: E402
from train_test_data import make_patch_folder  # noqa: E402


tmp = tempdir("ds_train_int_")
data = f"{tmp}/data"
make_patch_folder(data, size=32, train_per_class=32, val_per_class=12, seed=3)
out = f"{tmp}/out"
p = run(["train", "--train-folder", data, "--patch-size", "32", "--epochs", "2", "--threads", "2",
         "--seed", "5", "--out", out, "--checkpoint-minutes", "0"])
print(p.stderr)
print(p.stdout)

rows = list(csv.reader(open(f"{out}/log.csv")))
check(rows[0] == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"], f"header {rows[0]}")
check([r[0] for r in rows[1:]] == ["1", "2"], f"epochs in log {[r[0] for r in rows[1:]]}")
if len(rows) == 3:
    check(abs(float(rows[1][5]) - 0.001) < 1e-12 and abs(float(rows[2][5]) - 0.00085) < 1e-12,
          f"lr column {rows[1][5]}, {rows[2][5]} (ExponentialLR 0.85)")
    best_val = max(float(r[4]) for r in rows[1:])
    check(best_val >= 0.8, f"best validation accuracy {best_val}, chance is 0.5")
    print(f"best val acc {best_val}")

names = sorted(os.path.basename(x) for x in glob.glob(f"{out}/checkpoints/*.safetensors"))
model_names = [n for n in names if ".state." not in n]
check(all(re.fullmatch(r"resnet18_e[12]_va[01]\.\d{4}\.safetensors", n) for n in model_names) and len(model_names) == 2,
      f"checkpoint names {names}")
check(len(names) == 4, f"each checkpoint has a state file: {names}")
if len(rows) == 3 and model_names:
    accs = {int(re.search(r"_e(\d+)_", n).group(1)): n for n in model_names}
    for r in rows[1:]:
        check(accs.get(int(r[0]), "").endswith(f"_va{float(r[4]):.4f}.safetensors"), f"name of epoch {r[0]}: {accs}")
    best_epoch = max(rows[1:], key=lambda r: (float(r[4]), -int(r[0])))[0]
    check(open(f"{out}/best.safetensors", "rb").read() ==
          open(f"{out}/checkpoints/{accs[int(best_epoch)]}", "rb").read(), "best.safetensors is not the best checkpoint")

meta = model_metadata(f"{out}/best.safetensors")
check(json.loads(meta["classes"]) == ["dense", "sparse"], f"classes {meta['classes']}")
check(meta["patch_size"] == "32", f"patch size {meta['patch_size']}")
mean = json.loads(meta["mean"])
check(abs(mean[0] - 0.485) > 0.1 and 0.7 < mean[0] < 0.95, f"mean {mean} not computed from the (pink) data")

patch = sorted(glob.glob(f"{data}/val/dense/*.png"))[0]
c = run(["classify", "--model", f"{out}/best.safetensors", "--json", patch])
if c.returncode == 0:
    j = json.loads(c.stdout.splitlines()[0])
    check(set(j["probabilities"]) == {"dense", "sparse"}, f"classify output {j}")
check("best: epoch" in p.stdout and "best.safetensors" in p.stdout and "data wait" in p.stdout,
      f"summary missing: {p.stdout}")
check("dense" in p.stderr and "sparse" in p.stderr and "each row sums to 1" in p.stderr, "no confusion matrix printed")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
shutil.rmtree(tmp)
