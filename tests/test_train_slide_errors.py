#!/usr/bin/python3
"""`deepslide train` in slides mode with unreadable windows (issue 6: "an unreadable or wrong-size
image is counted and listed and training continues; more than 1% unreadable stops with an
error"). Six slides (2 classes x 2 training, 320x320, + 1 validation, 256x192) are written as
JPEG TIFFs with 32x32 tiles (vips), all tissue; with --patch-size 32 at level 0 every window of the overlap-1
training grid is exactly one tile, so corrupting tiles (zeroing their JPEG data) makes a known set
of windows unreadable. --num-train-per-class 16 thins each class's 200 windows to every 12.5th
(tiles (0,0), (2,1), (5,2), (7,3), (0,5), ... of the first slide of the class, then the same of
the second); validation has 2 x 88 windows (overlap 1.5, step 21). 208 windows in all: 2
unreadable pass, 3 stop. Checks:
- 2 unreadable windows (one found by the training loader, one by the validation loader): the
  purple filter keeps them (tissue unknown), training finishes and lists exactly those windows
  (slide, x, y, reason), once each as found and in a list at the end;
- the same run stopped with --max-steps in epoch 2 and resumed lists them once each and ends with
  the model bytes of the uninterrupted run (the list is part of the checkpoint state);
- 8 unreadable training windows in two slides: a one-line error (exit 2) naming both slides and
  the count, before training when the normalization sample reads every training window, during
  the first epoch when it reads fewer;
- a slide that cannot be opened (garbage, truncated) is listed on one line naming it and left
  out; training goes on with the others and the command exits 2 at the end, with the count.
Run by ctest (DEEPSLIDE set)."""
import glob
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, error_line, failures, run, tempdir  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

TILE = 32


def make_slides(root, seed=3):
    """root/<cls>/<cls>_<i>.tif, i = 0, 1 (training) and 2 (validation); label CSVs in root."""
    rng = np.random.default_rng(seed)
    for cls, dots in (("dense", 400), ("sparse", 40)):
        os.makedirs(f"{root}/{cls}", exist_ok=True)
        for i, (w, h) in enumerate(((320, 320), (320, 320), (256, 192))):
            yy, xx = np.mgrid[0:h, 0:w]
            img = np.array([205, 120, 195]) + rng.normal(0, 8, (h, w, 3))  # purple: tissue everywhere
            for _ in range(dots * w * h // 320 // 320):
                cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(1.5, 3.0)
                img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = np.array([90, 40, 120])
            png = f"{root}/{cls}/{cls}_{i}.png"
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(png)
            subprocess.run(["vips", "tiffsave", png, f"{root}/{cls}/{cls}_{i}.tif", "--tile", "--tile-width",
                            str(TILE), "--tile-height", str(TILE), "--compression", "jpeg", "--Q", "90"], check=True)
            os.remove(png)
    with open(f"{root}/labels_train.csv", "w") as f:
        f.write("img,gt\n" + "".join(f"{c}/{c}_{i}.tif,{c}\n" for c in ("dense", "sparse") for i in (0, 1)))
    with open(f"{root}/labels_val.csv", "w") as f:
        f.write("img,gt\ndense/dense_2.tif,dense\nsparse/sparse_2.tif,sparse\n")


def corrupt_tiles(path, tiles):
    """Zeroes the JPEG data of the level-0 tiles (col, row) of a tiled TIFF."""
    with Image.open(path) as im:
        offsets, counts, cols = im.tag_v2[324], im.tag_v2[325], (im.width + TILE - 1) // TILE
    with open(path, "r+b") as f:
        for col, row in tiles:
            f.seek(offsets[row * cols + col])
            f.write(b"\0" * counts[row * cols + col])


def listed_windows(stderr, slide):
    """(x, y) of the end-of-run list entries for this slide."""
    lines = stderr.split(" while training:\n", 1)[1].splitlines() if " while training:\n" in stderr else []
    out = []
    for line in lines:
        if not line.startswith(f"  {slide} x="):
            continue
        xy = line[len(slide) + 3:].split(":", 1)[0].split()
        out.append((int(xy[0][2:]), int(xy[1][2:])))
    return sorted(out)


def models(out):
    return {os.path.basename(p): open(p, "rb").read()
            for p in sorted(glob.glob(f"{out}/checkpoints/*_va*.safetensors")) if ".state." not in p}


tmp = tempdir("ds_train_slide_errors_")
clean = f"{tmp}/clean"
make_slides(clean)


def dataset(name, bad):
    """A copy of the clean slides with the given {slide: [(col, row), ...]} tiles corrupted."""
    d = f"{tmp}/{name}"
    shutil.copytree(clean, d)
    for slide, tiles in bad.items():
        corrupt_tiles(f"{d}/{slide}", tiles)
    return d


def train_args(d, out, *extra):
    return ["train", "--all-wsi", d, "--labels-train", f"{d}/labels_train.csv", "--labels-val", f"{d}/labels_val.csv",
            "--patch-size", "32", "--level", "0", "--num-train-per-class", "16", "--batch-size", "16",
            "--threads", "2", "--workers", "2", "--seed", "5", "--checkpoint-minutes", "0", "--out", out] + list(extra)


# A few unreadable windows (2 of 208). --norm-samples 4 reads training windows 0, 8, 16, 24, so
# tile (5, 2) of dense_0 (training window 2) is found by the loader; the corner tile (7, 5) of
# sparse_2 lies under one validation window only, (210, 147).
few = dataset("few", {"dense/dense_0.tif": [(5, 2)], "sparse/sparse_2.tif": [(7, 5)]})
expect = {f"{few}/dense/dense_0.tif": [(160, 64)], f"{few}/sparse/sparse_2.tif": [(210, 147)]}
few_args = ["--epochs", "2", "--norm-samples", "4", "--save-interval", "2"]
p = run(train_args(few, f"{tmp}/few_out", *few_args))
check("32 training, 176 validation" in p.stderr, "unexpected window counts: " + p.stderr[:500])
check("skipped 2 unreadable window(s) of 208 while training:" in p.stderr, "no end-of-run list: " + p.stderr[-800:])
for slide, xy in expect.items():
    check(listed_windows(p.stderr, slide) == xy, f"{slide}: listed {listed_windows(p.stderr, slide)}, expected {xy}")
found = [line for line in p.stderr.splitlines() if line.startswith("skipped unreadable window ")]
check(len(found) == 2 and all(" tile " in line and "JPEG" in line for line in found),
      "each window once as found, with slide and reason: " + "\n".join(found))
check(os.path.exists(f"{tmp}/few_out/best.safetensors") and len(models(f"{tmp}/few_out")) == 1,
      "training with 2 unreadable windows did not finish")

# The same run stopped mid-epoch 2 (--max-steps 3; 2 steps an epoch), after both windows were
# found, and resumed: epoch 2 reads them again, yet each is listed once, and the final weights
# are those of the uninterrupted run.
out = f"{tmp}/few_resumed"
run(train_args(few, out, *few_args, "--max-steps", "3"))
p = run(train_args(few, out, *few_args, "--resume"))
check("2 unreadable window(s) found before the checkpoint" in p.stderr, "resume did not restore the list: " + p.stderr[:800])
check("skipped 2 unreadable window(s) of 208 while training:" in p.stderr, "resumed run's list: " + p.stderr[-800:])
for slide, xy in expect.items():
    check(listed_windows(p.stderr, slide) == xy, f"resumed run listed {listed_windows(p.stderr, slide)} in {slide}")
ref, got = models(f"{tmp}/few_out"), models(out)
check(sorted(ref) == sorted(got) and all(ref[k] == got.get(k) for k in ref),
      f"resumed weights differ from the uninterrupted run: {sorted(ref)} vs {sorted(got)}")

# Many unreadable windows (8 of 208: the first 4 training windows of dense_0 and of sparse_1):
# one line naming both slides and the count. The default --norm-samples reads every training
# window before training starts; with --norm-samples 2 the loader finds them in epoch 1.
thinned = [(0, 0), (2, 1), (5, 2), (7, 3)]
many = dataset("many", {"dense/dense_0.tif": thinned, "sparse/sparse_1.tif": thinned})
p = run(train_args(many, f"{tmp}/many_out", "--epochs", "1"), expect=2)
e = error_line(p)
check("8 of 208 windows could not be read (more than 1%)" in e and f"4 in {many}/dense/dense_0.tif" in e
      and f"4 in {many}/sparse/sparse_1.tif" in e, "many unreadable windows, before training: " + e)
check(not os.path.exists(f"{tmp}/many_out/log.csv"), "training started despite 8 unreadable windows")
p = run(train_args(many, f"{tmp}/many_out2", "--epochs", "1", "--norm-samples", "2"), expect=2)
e = error_line(p)
check("of 208 windows could not be read (more than 1%)" in e and f"{many}/" in e and "first: " in e,
      "many unreadable windows, while training: " + e)
check(os.path.exists(f"{tmp}/many_out2/log.csv") and not glob.glob(f"{tmp}/many_out2/checkpoints/*_va*"),
      "the loader did not stop the first epoch")

# A slide that cannot be opened at all (garbage, truncated): one line naming it and the reason,
# training goes on with the others, and the command exits 2 at the end with the count.
def expect_left_out(p, path, out, what):
    lines = [line for line in p.stderr.splitlines() if "FAILED: " in line]
    check(len(lines) == 1 and path in lines[0], f"{what}: not one FAILED line naming {path}: {p.stderr[-800:]}")
    check("1 of 6 slide(s) failed" in p.stderr, f"{what}: no count before training: {p.stderr[-800:]}")
    check("1 of 6 slides failed and were left out" in error_line(p), f"{what}: last line {error_line(p)}")
    log = open(f"{out}/log.csv").read().splitlines() if os.path.exists(f"{out}/log.csv") else []
    check(len(log) == 2, f"{what}: training did not go on without the slide: {log}")


garbage = dataset("garbage", {})
with open(f"{garbage}/sparse/sparse_2.tif", "wb") as f:
    f.write(b"II*\0" + bytes(range(64)))
p = run(train_args(garbage, f"{tmp}/garbage_out", "--epochs", "1"), expect=2)
expect_left_out(p, f"{garbage}/sparse/sparse_2.tif", f"{tmp}/garbage_out", "unopenable slide")
trunc = dataset("trunc", {})
t = f"{trunc}/dense/dense_1.tif"
os.truncate(t, os.path.getsize(t) // 2)
p = run(train_args(trunc, f"{tmp}/trunc_out", "--epochs", "1"), expect=2)
expect_left_out(p, t, f"{tmp}/trunc_out", "truncated slide")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
shutil.rmtree(tmp)
