#!/usr/bin/python3
"""`--stain-fit slide` end to end on synthetic slides of another lab's stain (synth --stain-shift 1):
- patches --stain-norm macenko --stain-ref IMAGE --stain-fit slide writes the same patches as
  --stain-fit window, with other pixels;
- train in slides mode with --stain-norm macenko --stain-fit slide says it fitted every slide's
  thumbnail, its model carries "fit": "slide" in its stain metadata, and a resume with --stain-fit
  window is refused (exit 2, naming the checkpoint);
- predict with that model and with the same model fitted per window (its metadata rewritten):
  other probabilities, and the second run into the first one's folder redoes each slide because
  the model changed (a result made with the other setting is never reused); a rerun with the same
  model skips;
- refusals: --stain-fit slide without --stain-norm, on a patch folder, or an unknown value.
Run by ctest (DEEPSLIDE set)."""
import csv
import json
import os
import shutil
import struct
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, failures, model_metadata, run, tempdir  # noqa: E402
from stain_labs import LAB_A, patch  # noqa: E402

tmp = tempdir("ds_stain_fit_slide_")
wsi = f"{tmp}/wsi"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "1", "--width", "512", "--height", "512",
     "--seed", "3", "--stain-shift", "1"])
classes = sorted(os.listdir(wsi))
slides = [f"{c}/{sorted(os.listdir(f'{wsi}/{c}'))[0]}" for c in classes]
labels = f"{tmp}/labels.csv"
with open(labels, "w") as f:
    f.write("img,gt\n" + "".join(f"{s},{s.split('/')[0]}\n" for s in slides))
ref = f"{tmp}/ref.png"  # a reference in the training lab's stain
Image.fromarray(np.concatenate([patch(np.random.default_rng(9), LAB_A, d) for d in (True, False)], 1)).save(ref)
W = ["--patch-size", "32", "--level", "0", "--tissue", "none", "--threads", "2"]

# patches: the same files, other pixels.
exports = {}
for fit in ("window", "slide"):
    out = f"{tmp}/patches_{fit}"
    run(["patches", "--all-wsi", wsi, "--labels", labels, "--out", out, "--overlap", "1", "--quiet", "--stain-norm",
         "macenko", "--stain-ref", ref, "--stain-fit", fit] + W)
    exports[fit] = {os.path.relpath(os.path.join(r, f), out): open(os.path.join(r, f), "rb").read()
                    for r, _, fs in os.walk(out) for f in fs if f.endswith(".jpg")}
check(exports["window"] and sorted(exports["window"]) == sorted(exports["slide"]), "the same patches are exported")
differ = sum(exports["window"][k] != exports["slide"].get(k) for k in exports["window"])
check(differ > len(exports["window"]) // 2, f"--stain-fit slide changed only {differ} of {len(exports['window'])}")

# train in slides mode, fitted per slide.
T = ["train", "--all-wsi", wsi, "--labels-train", labels, "--labels-val", labels, "--num-train-per-class", "24",
     "--batch-size", "8", "--workers", "1", "--checkpoint-minutes", "0", "--stain-norm", "macenko", "--epochs", "1"] + W
model_dir = f"{tmp}/train"
p = run(T + ["--stain-fit", "slide", "--out", model_dir])
check(f"stain fitted per slide on {len(slides)} of {len(slides)}" in p.stdout + p.stderr,
      f"train reports the per-slide fits: {(p.stdout + p.stderr)[-600:]}")
model = f"{model_dir}/best.safetensors"
st = json.loads(model_metadata(model).get("stain", "{}")) if os.path.exists(model) else {}
check(st.get("method") == "macenko" and st.get("fit") == "slide", f"stain metadata {st}")
d = f"{tmp}/train_resume"
run(T + ["--stain-fit", "slide", "--out", d, "--max-steps", "1"])
p = run(T + ["--stain-fit", "window", "--out", d, "--resume"], expect=2)
check("checkpoints" in p.stderr and "--stain-fit" in p.stderr, f"resume refusal: {p.stderr.strip()[-300:]}")


def with_window_fit(src, dst):
    """A copy of src whose stain metadata says "fit" window (the key left out, as train writes it), its
    header padded with spaces to the same length."""
    with open(src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        rest = f.read()
    stain = json.loads(header["__metadata__"]["stain"])
    del stain["fit"]
    header["__metadata__"]["stain"] = json.dumps(stain, separators=(",", ":"))
    text = json.dumps(header, separators=(",", ":")).encode()
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", n) + text + b" " * (n - len(text)) + rest)


def probabilities(folder):
    """Every prediction CSV of the folder, by name: its rows."""
    return {f: list(csv.DictReader(open(f"{folder}/{f}"))) for f in sorted(os.listdir(folder)) if f.endswith(".csv")}


if st:
    window_model = f"{tmp}/window.safetensors"
    with_window_fit(model, window_model)
    check("fit" not in json.loads(model_metadata(window_model)["stain"]), "the rewritten model fits per window")
    preds = f"{tmp}/preds"
    P = ["predict", "--all-wsi", wsi, "--labels", labels, "--out", preds, "--overlap", "1", "--quiet"] + W
    run(P + ["--model", model])
    by_slide = probabilities(preds)
    p = run(P + ["--model", model])
    check("up to date" in p.stdout + p.stderr, f"a rerun with the same model skips: {(p.stdout + p.stderr)[-400:]}")
    p = run(P + ["--model", window_model])
    out = p.stdout + p.stderr
    check(out.count("redone: the model file changed") == len(slides), f"the other fit redoes every slide: {out[-600:]}")
    by_window = probabilities(preds)
    check(by_slide and by_window and by_slide.keys() == by_window.keys(), "both runs wrote every slide's CSV")
    if by_slide and by_window:
        same_windows = all([(r["x"], r["y"]) for r in by_slide[k]] == [(r["x"], r["y"]) for r in by_window[k]]
                           for k in by_slide)
        check(len(by_slide) == len(slides) and same_windows, f"the same windows are predicted: {sorted(by_slide)}")
        changed = sum(a != b for k in by_slide for a, b in zip(by_slide[k], by_window[k]))
        check(changed > 0, "per-slide and per-window fits gave the same probabilities")

# Refusals, each one line naming the flag.
p = run(["patches", "--all-wsi", wsi, "--labels", labels, "--out", f"{tmp}/bad1", "--stain-fit", "slide"] + W, expect=2)
check("--stain-fit" in p.stderr, f"--stain-fit without --stain-norm: {p.stderr.strip()[-300:]}")
p = run(["patches", "--all-wsi", wsi, "--labels", labels, "--out", f"{tmp}/bad2", "--stain-norm", "macenko",
         "--stain-ref", ref, "--stain-fit", "tile"] + W, expect=2)
check("--stain-fit" in p.stderr, f"unknown --stain-fit: {p.stderr.strip()[-300:]}")
folder = f"{tmp}/folder"
shutil.copytree(f"{tmp}/patches_window", f"{folder}/train")
shutil.copytree(f"{tmp}/patches_window", f"{folder}/val")
p = run(["train", "--train-folder", folder, "--patch-size", "32", "--out", f"{tmp}/bad3", "--stain-norm", "macenko",
         "--stain-fit", "slide", "--max-steps", "1"], expect=2)
check("--stain-fit slide needs slides mode" in p.stderr, f"--stain-fit slide on a patch folder: {p.stderr[-300:]}")
p = run(["train", "--train-folder", folder, "--patch-size", "32", "--out", f"{tmp}/bad4", "--stain-fit", "slide",
         "--max-steps", "1"], expect=2)
check("--stain-fit slide needs --stain-norm" in p.stderr, f"--stain-fit slide without --stain-norm: {p.stderr[-300:]}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
