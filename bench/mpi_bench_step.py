#!/usr/bin/python3
"""The data-parallel training step alone: `deepslide bench --mode train` as 1 process x T threads
against `mpirun -np R` ranks x T/R threads each, once per gradient bucket size asked for
(default `--bucket-mb 0 --bucket-mb 10`: one sum after backward against 10 MB buckets summed during
backward), alternating within each round, the same global batch. Prints per round and as medians
the whole job's images/s, the ratio to one process, and the ranks' time per step in the gradient
sum (`allreduce_ms`: inside MPI calls, waiting for the slowest rank included) with its share of
the step and how many buckets started during backward. Unlike bench/mpi_train_throughput.py
(whole `deepslide train` runs: loader, statistics, per-step exchanges) this times the step only,
on a seeded random batch.

    /usr/bin/python3 bench/mpi_bench_step.py --deepslide build/deepslide --rounds 4 --iters 4 --bucket-mb 0 --bucket-mb 4 --bucket-mb 10 --bucket-mb 25
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def bench(cmd, env):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return json.loads([line for line in p.stdout.splitlines() if line.startswith("{")][-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deepslide", default="build/deepslide")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="cores of the whole job")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--bucket-mb", action="append", help="--grad-bucket-mb of the ranks (repeat to compare)")
    a = ap.parse_args()
    buckets = a.bucket_mb or ["0", "10"]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    common = ["bench", "--mode", "train", "--arch", a.arch, "--batch", str(a.batch), "--size", str(a.size),
              "--iters", str(a.iters), "--warmup", str(a.warmup)]
    per_rank = max(1, a.threads // a.ranks)
    one = []
    many = {mb: {"ips": [], "ms": [], "share": []} for mb in buckets}
    for r in range(a.rounds):
        j1 = bench([a.deepslide] + common + ["--threads", str(a.threads)], dict(env, OMP_NUM_THREADS=str(a.threads)))
        one.append(j1["images_per_sec"])
        line = f"round {r + 1}: 1 x {a.threads} threads {one[-1]:.2f} img/s ({j1['ms_per_batch']:.0f} ms/step)"
        for mb in buckets:
            jn = bench(["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(a.ranks), a.deepslide] + common +
                       ["--threads", str(per_rank), "--grad-bucket-mb", mb], dict(env, OMP_NUM_THREADS=str(per_rank)))
            m = many[mb]
            m["ips"].append(jn["images_per_sec"])
            m["ms"].append(jn["allreduce_ms"])
            m["share"].append(jn["allreduce_share"])
            line += (f"; {a.ranks} ranks x {per_rank}, buckets {mb} MB ({jn['grad_buckets_in_backward']}/"
                     f"{jn['grad_buckets']} in backward): {jn['images_per_sec']:.2f} img/s "
                     f"({jn['ms_per_batch']:.0f} ms/step, {jn['allreduce_ms']:.0f} ms in the sum, "
                     f"{100 * jn['allreduce_share']:.1f}%)")
        print(line, flush=True)
    m1 = statistics.median(one)
    print(f"median: 1 x {a.threads} threads {m1:.2f} img/s")
    for mb in buckets:
        m = many[mb]
        mn = statistics.median(m["ips"])
        print(f"median: {a.ranks} ranks x {per_rank}, buckets {mb} MB: {mn:.2f} img/s, ratio {mn / m1:.2f}x, "
              f"gradient sum {statistics.median(m['ms']):.0f} ms per step "
              f"({100 * statistics.median(m['share']):.1f}% of the step)")


if __name__ == "__main__":
    main()
