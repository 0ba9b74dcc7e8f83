#!/usr/bin/python3
"""The gradient sum in buckets overlapped with backward (train/grad_buckets.h) under `mpirun -np 2`
on one machine, tiny patches, 2 steps each run (a mid-epoch checkpoint):
- 10 MB buckets (5 of ResNet-18's 45 MB, the size suggested across machines), buckets smaller
  than any single tensor (0.0001 MB: one per parameter) and one bucket of everything (1000 MB)
  each give weights byte-identical to one sum after backward (--grad-bucket-mb 0, the default):
  model files byte for byte, the optimizer moments of the checkpoints' state files bit for bit;
  the sum of every element is in rank order whatever the buckets (with --sync-bn, whose own sums
  run in backward while buckets are in flight: tests/test_mpi_train.py);
- two identical runs with small buckets are byte-identical;
- `deepslide bench --mode train` reports how many buckets started during backward: some with
  buckets, none with --grad-bucket-mb 0; a negative size is refused (exit 2).
Prints "not run: ..." (ctest SKIP) when mpirun is missing or the binary was built without MPI.
Run by ctest (DEEPSLIDE set)."""
import glob
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "weights"))
from cli_harness import DEEPSLIDE, check, failures  # noqa: E402
from export_torchvision import read_safetensors  # noqa: E402
from mpi_harness import ENV, MPI, finish, skip_without_mpi_build  # noqa: E402
from train_test_data import make_patch_folder  # noqa: E402

RANKS2 = MPI + ["-np", "2", DEEPSLIDE]
TIMEOUT = 300

tmp = tempfile.mkdtemp(prefix="ds_mpi_buckets_")
data = f"{tmp}/data"
# 20 training patches: batches of 8 (two steps are taken); 10 validation patches.
make_patch_folder(data, size=32, train_per_class=10, val_per_class=5, seed=4)
BASE = ["train", "--train-folder", data, "--patch-size", "32", "--batch-size", "8", "--threads", "1", "--workers", "1",
        "--seed", "7", "--norm-samples", "40", "--max-steps", "2", "--checkpoint-minutes", "0"]


def run(args):
    return subprocess.run(RANKS2 + args, capture_output=True, text=True, env=ENV, timeout=TIMEOUT)


skip_without_mpi_build(run(["info", "/nonexistent.tif"]))


def train(name, extra):
    out = f"{tmp}/{name}"
    p = run(BASE + ["--out", out] + extra)
    check(p.returncode == 0, f"{name}: exit {p.returncode}: {p.stderr.strip()[-1500:]}")
    files = sorted(glob.glob(f"{out}/checkpoints/*.safetensors")) + glob.glob(f"{out}/best.safetensors")
    check(len(files) == 2, f"{name} wrote {files}")
    # Model files whole; of the state files the tensors (optimizer moments: the log in their
    # metadata holds wall times).
    got = {}
    for f in files:
        key = os.path.relpath(f, out)
        if ".state." in f:
            tensors, _ = read_safetensors(f)
            got[key] = {k: v.tobytes() for k, v in tensors.items()}
        else:
            got[key] = open(f, "rb").read()
    return p, got


p0, ref = train("flat", [])
check("gradients summed after backward (--grad-bucket-mb 0)" in p0.stderr, "default run's message: " + p0.stderr[-600:])
for name, mb in (("ten", "10"), ("tiny", "0.0001"), ("one", "1000")):
    p, got = train(name, ["--grad-bucket-mb", mb])
    check(got == ref, f"--grad-bucket-mb {mb}: weights differ from one sum after backward")
    if name == "ten":
        check("gradients summed in buckets of 10 MB during backward" in p.stderr, "bucketed message: " + p.stderr[-600:])
_, again = train("tiny_again", ["--grad-bucket-mb", "0.0001"])
check(again == ref, "a second run with tiny buckets differs")

# bench: how many buckets ran during backward.
BENCH = ["bench", "--mode", "train", "--batch", "4", "--size", "32", "--iters", "1", "--warmup", "0", "--threads", "1"]
for mb, want_buckets in (("4", None), ("0", 1)):
    b = run(BENCH + ["--grad-bucket-mb", mb])
    lines = [line for line in b.stdout.splitlines() if line.startswith("{")]
    check(b.returncode == 0 and len(lines) == 1, f"bench --grad-bucket-mb {mb}: exit {b.returncode}: {b.stderr[-500:]}")
    if lines:
        j = json.loads(lines[0])
        if want_buckets is None:  # 45 MB in 4 MB buckets: 12, the first ones started during backward (the
            # later ones may queue behind the sum in flight until backward ends)
            check(j["grad_buckets"] == 12 and 1 <= j["grad_buckets_in_backward"] <= 12, f"bench JSON {j}")
        else:
            check(j["grad_buckets"] == 1 and j["grad_buckets_in_backward"] == 0, f"bench JSON {j}")
bad = run(BENCH + ["--grad-bucket-mb", "-1"])
check(bad.returncode == 2 and "--grad-bucket-mb must be in [0, 1000000], got -1" in bad.stderr,
      f"negative bucket size: exit {bad.returncode}: {bad.stderr[-500:]}")

finish(failures, tmp)
