#!/usr/bin/python3
"""Data-parallel `deepslide train` under `mpirun -np 2` on one machine (loopback), tiny patches:
- two identical 2-rank runs give byte-identical checkpoints, best.safetensors and log.csv metrics;
- 2 ranks with --sync-bn match one process on the same global batch within float tolerance, while
  2 ranks with per-rank BatchNorm measurably do not (so the comparison can fail); the gradient sum
  in buckets during backward equals one sum after it (the default) byte for byte;
- a 2-rank run stopped by --max-steps and resumed with 2 ranks equals the uninterrupted run byte
  for byte; resumed with 1 rank (--sync-bn) it stays within tolerance of the 1-process run;
- a rank killed with SIGKILL stops the job (non-zero exit, the dead rank named), the last
  checkpoint stays good and --resume finishes the run bit-identical to the uninterrupted one;
- ranks given other flags are refused (exit 2, one line naming the rank); a command other than
  train, predict, diagnose, patches or bench is refused under mpirun; only rank 0 writes and prints;
- `deepslide bench --mode train` under mpirun prints one JSON line with the job's images/s and the
  time in the gradient sum; --mode infer is refused.
Prints "not run: ..." (ctest SKIP) when mpirun is missing or the binary was built without MPI.
Run by ctest (DEEPSLIDE set)."""
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "weights"))
import numpy as np  # noqa: E402
from cli_harness import DEEPSLIDE, check, failures  # noqa: E402
from export_torchvision import read_safetensors  # noqa: E402
from mpi_harness import ENV, MPIRUN, finish, skip_without_mpi_build  # noqa: E402
from mpi_harness import MPI as MPI_PREFIX  # noqa: E402
from train_test_data import make_patch_folder  # noqa: E402

MPI = MPI_PREFIX + ["-np"]
TIMEOUT = 300

tmp = tempfile.mkdtemp(prefix="ds_mpi_train_")
data = f"{tmp}/data"
# 20 training patches: batches of 8, 8 and 4 per epoch; 10 validation patches.
make_patch_folder(data, size=32, train_per_class=10, val_per_class=5, seed=3)
BASE = ["train", "--train-folder", data, "--patch-size", "32", "--batch-size", "8", "--threads", "1", "--workers", "1", "--seed", "5", "--norm-samples", "40"]


def launch(ranks, args):
    cmd = ([DEEPSLIDE] if ranks == 0 else MPI + [str(ranks), DEEPSLIDE]) + args
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=TIMEOUT)


def train(ranks, out, extra=(), expect=0):
    """ranks = 0: a plain process without mpirun."""
    for flag, default in (("--checkpoint-minutes", "0"), ("--epochs", "2")):
        extra = list(extra) + ([] if flag in extra else [flag, default])
    p = launch(ranks, BASE + ["--out", out] + extra)
    if p.returncode != expect:
        failures.append(f"{ranks} rank(s) {' '.join(extra)}: exit {p.returncode}, expected {expect}: "
                        f"{p.stderr.strip()[-1500:]}")
    return p


def models(out):
    """End-of-epoch model files and best.safetensors: name -> bytes."""
    files = [p for p in glob.glob(f"{out}/checkpoints/*_va*.safetensors") if ".state." not in p]
    files += glob.glob(f"{out}/best.safetensors")
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(files)}


def metrics(out):
    """log.csv without the wall-time column."""
    return [",".join(line.split(",")[:6]) for line in open(f"{out}/log.csv").read().splitlines()]


def compare(a, b):
    """Two model files: the largest relative difference of the BatchNorm running statistics, and
    the share of weights that differ by more than 1e-4 (a tenth of one Adam step at lr 1e-3: Adam
    moves a weight by about lr whatever its gradient's size, so a gradient near zero whose sign
    flips under rounding moves it that far; rounding alone flips few)."""
    ta, _ = read_safetensors(a)
    tb, _ = read_safetensors(b)
    assert sorted(ta) == sorted(tb)
    stats = [k for k in ta if "running" in k]
    weights = [k for k in ta if k not in stats and "num_batches" not in k]
    rel = max(float(np.max(np.abs(ta[k].astype(np.float64) - tb[k]) / (np.abs(ta[k]) + 1e-3))) for k in stats)
    moved = sum(int(np.sum(np.abs(ta[k].astype(np.float64) - tb[k]) > 1e-4)) for k in weights)
    return rel, moved / sum(ta[k].size for k in weights)


def model_file(out, pattern):
    files = sorted(p for p in glob.glob(f"{out}/checkpoints/{pattern}") if ".state." not in p)
    return files[-1] if files else f"{out}/checkpoints/(none like {pattern})"


probe = launch(2, ["info", "/nonexistent.tif"])
skip_without_mpi_build(probe)

# Refusals first (they are fast): a command other than train, and ranks that disagree.
check(probe.returncode == 2 and "only train, predict, diagnose, patches and bench run" in probe.stderr,
      f"info under mpirun: exit {probe.returncode}: {probe.stderr[-500:]}")
odd = subprocess.run([MPIRUN, "--oversubscribe", "--bind-to", "none",
                      "-np", "1", DEEPSLIDE] + BASE + ["--out", f"{tmp}/odd"] +
                     [":", "-np", "1", DEEPSLIDE] + BASE + ["--out", f"{tmp}/odd", "--lr", "0.01"],
                     capture_output=True, text=True, env=ENV, timeout=TIMEOUT)
check(odd.returncode == 2 and "rank 1 of 2 has other flags" in odd.stderr,
      f"ranks with other flags: exit {odd.returncode}: {odd.stderr[-800:]}")

# deepslide bench --mode train under mpirun: one JSON line from rank 0, the whole job's batch, the
# time in the gradient sum; --mode infer is refused.
bench = launch(2, ["bench", "--mode", "train", "--batch", "4", "--size", "32", "--iters", "2", "--warmup", "0",
                   "--threads", "1"])
lines = [line for line in bench.stdout.splitlines() if line.startswith("{")]
check(bench.returncode == 0 and len(lines) == 1, f"bench under mpirun: exit {bench.returncode}, stdout {bench.stdout!r}")
if lines:
    j = json.loads(lines[0])
    check(j["ranks"] == 2 and j["batch"] == 4 and j["allreduce_ms"] > 0 and 0 < j["allreduce_share"] < 1 and
          abs(j["images_per_sec"] - 4000 / j["ms_per_batch"]) < 1e-6 * j["images_per_sec"], f"bench JSON {j}")
check(bench.stderr.count("iter 2/2") == 1, "bench progress printed by rank 0 alone: " + bench.stderr[-500:])
bench = launch(2, ["bench", "--mode", "infer", "--batch", "4", "--size", "32", "--iters", "1", "--threads", "1"])
check(bench.returncode == 2 and "--mode train only" in bench.stderr, f"bench --mode infer under mpirun: {bench.stderr[-500:]}")

# Determinism: two identical 2-rank runs.
a, b = f"{tmp}/a", f"{tmp}/b"
pa = train(2, a)
train(2, b)
ma = models(a)
check(len(ma) == 3, f"2-rank run wrote {sorted(ma)}")
check(ma == models(b), "two identical 2-rank runs differ")
check(metrics(a) == metrics(b), f"log.csv differs between identical runs:\n{metrics(a)}\n{metrics(b)}")
check(len(metrics(a)) == 3, f"log.csv of the 2-rank run: {metrics(a)}")
check(pa.stdout.count("img/s") == 1 and "2 ranks" in pa.stdout, f"rank 0 alone prints the summary: {pa.stdout!r}")
check(pa.stderr.count("epoch 1/2:") == 1, "epoch lines printed more than once: " + pa.stderr[-600:])

# Synchronized BatchNorm: 2 ranks against one process on the same global batch. After one step the
# running statistics (the forward's batch statistics) agree to rounding and the weights (the
# backward through them) almost all do; per-rank BatchNorm differs in both (so the test can fail).
one, sync2, local2 = f"{tmp}/one", f"{tmp}/sync2", f"{tmp}/local2"
train(0, one, ["--sync-bn", "--max-steps", "1"])
train(2, sync2, ["--sync-bn", "--max-steps", "1"])
train(2, local2, ["--max-steps", "1"])
s_rel, s_moved = compare(model_file(one, "*_b1.*"), model_file(sync2, "*_b1.*"))
l_rel, l_moved = compare(model_file(one, "*_b1.*"), model_file(local2, "*_b1.*"))
print(f"after one step, against one process: --sync-bn 2 ranks: BN statistics rel. diff {s_rel:.2g}, "
      f"{100 * s_moved:.3f}% of weights moved > 1e-4; per-rank BN 2 ranks: {l_rel:.2g}, {100 * l_moved:.1f}%")
check(s_rel < 1e-4 and s_moved < 1e-3, f"--sync-bn 2 ranks vs 1 process after one step: {s_rel:.3g}, {s_moved:.3g}")
check(l_rel > 1e-2 and l_moved > 0.05, f"per-rank BN 2 ranks vs 1 process should differ: {l_rel:.3g}, {l_moved:.3g}")
# The gradient sum in 4 MB buckets during backward (BatchNorm's own sums run between them) against one
# sum after backward (the default): byte-identical (train/grad_buckets.h).
sync2_buckets = f"{tmp}/sync2_buckets"
train(2, sync2_buckets, ["--sync-bn", "--max-steps", "1", "--grad-bucket-mb", "4"])
check(open(model_file(sync2_buckets, "*_b1.*"), "rb").read() == open(model_file(sync2, "*_b1.*"), "rb").read(),
      "--sync-bn: the sum in 4 MB buckets differs from one sum after backward")
# Over an epoch the training and (sharded, summed) validation metrics logged stay together. Direct
# convolutions: auto's rule counts a layer's tiles, which depend on the per-process batch, and the
# epoch's last batch of 4 is 2 a rank, too few tiles for Winograd on layer1 (winograd_rule), where
# one process runs it on 4; the two round differently, and on the AVX-512 path (Zen 5, 2026-12-04)
# that put the validation loss 1.3e-2 apart after the epoch, over this check's 1e-2.
one_full, sync2_full = f"{tmp}/one_full", f"{tmp}/sync2_full"
train(0, one_full, ["--sync-bn", "--epochs", "1", "--conv-algo", "direct"])
train(2, sync2_full, ["--sync-bn", "--epochs", "1", "--conv-algo", "direct"])
m1, m2 = metrics(one_full), metrics(sync2_full)
check(len(m1) == len(m2) == 2, f"log.csv rows {m1} {m2}")
for r1, r2 in zip(m1[1:], m2[1:]):
    v1, v2 = [float(x) for x in r1.split(",")[1:5]], [float(x) for x in r2.split(",")[1:5]]
    check(max(abs(x - y) for x, y in zip(v1, v2)) < 1e-2, f"--sync-bn metrics differ: {r1} vs {r2}")

# Resume with the same number of ranks: bit-identical to the uninterrupted run.
r2 = f"{tmp}/resume2"
train(2, r2, ["--max-steps", "4"])
check(glob.glob(f"{r2}/checkpoints/*_e2_b1.safetensors"), "no mid-epoch checkpoint at --max-steps 4")
p = train(2, r2, ["--resume"])
check("resuming from" in p.stderr, "resume message missing: " + p.stderr[-300:])
check(models(r2) == ma, "2-rank run resumed with 2 ranks differs from the uninterrupted run")
check(metrics(r2) == metrics(a), f"resumed log.csv differs:\n{metrics(r2)}\n{metrics(a)}")

# Resume with another number of ranks (--sync-bn): one step on 2 ranks, one more in one process,
# against two steps in one process. Direct convolutions: the 2-rank gradient sum rounds otherwise
# than one process's, and with the Winograd layers (auto picks layer1 here, forward and backward
# data) the second step's running statistics differed by 4.3e-4 relative, over this check's 1e-4
# (2026-12-03; with direct it passes). Presumably Adam magnifying a near-zero gradient's rounding;
# not investigated further.
r21, one2 = f"{tmp}/resume21", f"{tmp}/one2"
DIRECT = ["--conv-algo", "direct"]
train(2, r21, ["--sync-bn", "--max-steps", "1", *DIRECT])
p = train(0, r21, ["--sync-bn", "--resume", "--max-steps", "1", *DIRECT])
check("1 threads x 1 ranks" in p.stderr, "no note on the changed rank count: " + p.stderr[-400:])
train(0, one2, ["--sync-bn", "--max-steps", "2", *DIRECT])
rel, moved = compare(model_file(one2, "*_b2.*"), model_file(r21, "*_b2.*"))
check(rel < 1e-4 and moved < 1e-3, f"2 ranks resumed with 1 (--sync-bn) vs 1 process: {rel:.3g}, {moved:.3g}")

# A rank that dies: the job stops, the last checkpoint stays good, --resume finishes the run.
k = f"{tmp}/killed"
proc = subprocess.Popen(MPI + ["2", DEEPSLIDE] + BASE + ["--out", k, "--epochs", "2", "--checkpoint-minutes", "0.0001"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def rank_pid(rank):
    """The pid of the deepslide process with this MPI rank (OMPI_COMM_WORLD_RANK in its environment)."""
    for d in glob.glob("/proc/[0-9]*"):
        try:
            if os.readlink(f"{d}/exe") != os.path.realpath(DEEPSLIDE):
                continue
            env = open(f"{d}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env and f"{k}".encode() in open(f"{d}/cmdline", "rb").read():
            return int(os.path.basename(d))
    return None


deadline = time.time() + TIMEOUT
while time.time() < deadline and proc.poll() is None and not glob.glob(f"{k}/checkpoints/*_b*.state.safetensors"):
    time.sleep(0.02)
victim = rank_pid(1)
killed = victim is not None and proc.poll() is None
if killed:
    os.kill(victim, signal.SIGKILL)
try:
    _, err = proc.communicate(timeout=120)
except subprocess.TimeoutExpired:
    proc.kill()
    _, err = proc.communicate()
    failures.append("the job went on after a rank was killed (hung for 120 s)")
check(killed, "the run finished before rank 1 could be killed")
if killed:
    check(proc.returncode != 0, "the job exited 0 after a rank was killed")
    check("rank 1" in err and "signal 9" in err, "no message naming the dead rank: " + err[-800:])
    p = train(2, k, ["--resume"])
    check("resuming from" in p.stderr, "resume after the kill: " + p.stderr[-300:])
    check(models(k) == ma, "run resumed after a killed rank differs from the uninterrupted run")

finish(failures, tmp)
