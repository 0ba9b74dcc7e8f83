#!/usr/bin/python3
"""`train --stain-norm reinhard --stain-aug both` (HED jitter and stain-matrix perturbation)
resumes bit-identically: a run stopped after a few steps (--max-steps, which checkpoints
mid-epoch) and resumed ends with the same model files as an uninterrupted run, the model carries
the stain reference, and a resume with another --stain-aug-scale, another --stain-aug-vectors,
`--stain-aug hed` or without --stain-norm is refused (exit 2, naming the checkpoint). The stain
draws come from their own seeded stream, so a run without --stain-aug draws as before (the other
resume tests keep their reference runs). Run by ctest (DEEPSLIDE set)."""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, failures, model_metadata, run, tempdir  # noqa: E402
from train_test_data import make_patch_folder  # noqa: E402

tmp = tempdir("ds_stain_resume_")
data = f"{tmp}/data"
make_patch_folder(data, size=32, train_per_class=10, val_per_class=4, seed=7)


def train_args(scale="0.1", norm="reinhard", aug="both", vectors="0.1"):
    return ["train", "--train-folder", data, "--patch-size", "32", "--batch-size", "8", "--epochs", "2",
            "--threads", "2", "--workers", "2", "--seed", "11", "--checkpoint-minutes", "0",
            "--stain-aug", aug, "--stain-aug-scale", scale, "--stain-aug-shift", "0.1", "--stain-aug-vectors", vectors,
            "--stain-norm", norm]


base = train_args()


def models(out):
    return {os.path.basename(p): open(p, "rb").read()
            for p in sorted(glob.glob(f"{out}/checkpoints/*_va*.safetensors")) if ".state." not in p}


ref = f"{tmp}/ref"
run(base + ["--out", ref])
ref_models = models(ref)
check(len(ref_models) == 2, f"reference checkpoints {sorted(ref_models)}")
if ref_models:
    st = json.loads(model_metadata(f"{ref}/best.safetensors").get("stain", "{}"))
    check(st.get("method") == "reinhard" and len(st.get("lab_mean", [])) == 3, f"stain metadata {st}")

out = f"{tmp}/int"
run(base + ["--out", out, "--max-steps", "2"])
check(glob.glob(f"{out}/checkpoints/*_b*.safetensors"), "no mid-epoch checkpoint after --max-steps")
p = run(base + ["--out", out, "--resume"])
got = models(out)
check(sorted(got) == sorted(ref_models), f"checkpoint names {sorted(got)} != {sorted(ref_models)}")
for name, b in ref_models.items():
    check(got.get(name) == b, f"{name}: resumed weights differ from the uninterrupted run")

# Another augmentation strength or choice, or no normalisation, is another run: refused.
for i, changed in enumerate((train_args(scale="0.2"), train_args(vectors="0.2"), train_args(aug="hed"),
                             train_args(norm="none"))):
    d = f"{tmp}/changed{i}"
    run(base + ["--out", d, "--max-steps", "1"])
    p = run(changed + ["--out", d, "--resume"], expect=2)
    check("checkpoints" in p.stderr, f"refusal names the checkpoint: {p.stderr.strip()[-300:]}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
