#!/usr/bin/python3
"""Data-parallel training on one machine: `deepslide train` as 1 process x T threads against
`mpirun -np R` ranks x T/R threads each, alternating, on the same generated 224 px patch folder
(tests/train_test_data.py), the same global batch and step count. Prints per round and the medians
of the whole job's images/s (the summary line's), the ratio, and the ranks' share of step time in
their sums (gradients, statistics; waiting for the slowest rank included).

    /usr/bin/python3 bench/mpi_train_throughput.py --deepslide build/deepslide --rounds 3 --steps 6
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from train_test_data import make_patch_folder  # noqa: E402


def run(cmd, env):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    m = re.search(r"([0-9.]+) img/s", p.stdout)
    share = re.search(r"([0-9.]+)% of step time in their sums", p.stdout)
    return float(m.group(1)), float(share.group(1)) if share else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deepslide", default="build/deepslide")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="cores of the whole job")
    ap.add_argument("--ranks", type=int, default=2)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ds_mpi_bench_")
    data = f"{tmp}/data"
    make_patch_folder(data, size=224, train_per_class=a.batch * a.steps // 2 + 8, val_per_class=2, seed=1)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    common = ["train", "--train-folder", data, "--patch-size", "224", "--batch-size", str(a.batch),
              "--max-steps", str(a.steps), "--norm-samples", "64", "--checkpoint-minutes", "0", "--seed", "1"]
    per_rank = max(1, a.threads // a.ranks)
    one, many, shares = [], [], []
    for r in range(a.rounds):
        shutil.rmtree(f"{tmp}/o", ignore_errors=True)
        ips, _ = run([a.deepslide] + common + ["--threads", str(a.threads), "--workers", str(a.threads),
                                               "--out", f"{tmp}/o"], dict(env, OMP_NUM_THREADS=str(a.threads)))
        one.append(ips)
        shutil.rmtree(f"{tmp}/o", ignore_errors=True)
        ips, share = run(["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(a.ranks), a.deepslide] + common +
                         ["--threads", str(per_rank), "--workers", str(per_rank), "--out", f"{tmp}/o"],
                         dict(env, OMP_NUM_THREADS=str(per_rank)))
        many.append(ips)
        shares.append(share)
        print(f"round {r + 1}: 1 x {a.threads} threads {one[-1]:.1f} img/s, {a.ranks} ranks x {per_rank} "
              f"{many[-1]:.1f} img/s ({share:.1f}% in sums)", flush=True)
    m1, m2 = statistics.median(one), statistics.median(many)
    print(f"median: 1 x {a.threads} threads {m1:.1f} img/s, {a.ranks} ranks x {per_rank} threads {m2:.1f} img/s, "
          f"ratio {m2 / m1:.2f}, sums {statistics.median(shares):.1f}% of step time")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
