#!/usr/bin/python3
"""Exact resume of `deepslide train`: a run killed with SIGKILL at a random moment (after a
mid-epoch checkpoint exists, so the kill lands mid-epoch, mid-write or between epochs) and then
resumed with --resume must end with byte-identical model files and the same log.csv metrics as an
uninterrupted run (same seed, threads and workers); so must a run stopped by SIGTERM, which
saves a checkpoint of the steps done and exits 143 saying so. Also: a corrupt, partial, modified or
differently configured checkpoint, or one trained on other data (an image moved to the other
class), is refused with exit code 2 and a message naming the file.
Run by ctest (DEEPSLIDE set)."""
import glob
import os
import random
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import DEEPSLIDE, check, error_line, failures, run, tempdir  # noqa: E402
from train_test_data import make_patch_folder  # noqa: E402


tmp = tempdir("ds_train_resume_")
data = f"{tmp}/data"
make_patch_folder(data, size=32, train_per_class=10, val_per_class=4, seed=7)
base = ["train", "--train-folder", data, "--patch-size", "32", "--batch-size", "8", "--epochs", "2",
        "--threads", "2", "--workers", "2", "--seed", "11"]


def models(out):
    """End-of-epoch model files: name -> bytes."""
    return {os.path.basename(p): open(p, "rb").read()
            for p in sorted(glob.glob(f"{out}/checkpoints/*_va*.safetensors")) if ".state." not in p}


def metrics(out):
    """log.csv without the wall-time column."""
    return [",".join(line.split(",")[:6]) for line in open(f"{out}/log.csv").read().splitlines()]


# Uninterrupted reference.
ref = f"{tmp}/ref"
t0 = time.time()
p = run(base + ["--out", ref, "--checkpoint-minutes", "0"])
ref_seconds = time.time() - t0
ref_models = models(ref)
check(len(ref_models) == 2, f"reference checkpoints {sorted(ref_models)}")
ref_steps = int(p.stdout.split(" steps,")[0].split()[-1])

# --max-steps at the end of epoch 1: that epoch ends as every epoch does (validated, its log.csv row,
# its checkpoint, best.safetensors), the run stops there, and --resume goes on from epoch 2.
at_end = f"{tmp}/max_steps_epoch_end"
p = run(base + ["--out", at_end, "--checkpoint-minutes", "0", "--max-steps", str(ref_steps // 2)])
check("at an epoch's end" in p.stdout, f"--max-steps at an epoch's end: {p.stdout[-400:]}")
check(metrics(at_end) == metrics(ref)[:2], f"--max-steps at an epoch's end: log.csv {metrics(at_end)}")
check(sorted(models(at_end)) == sorted(ref_models)[:1] and os.path.exists(f"{at_end}/best.safetensors"),
      f"--max-steps at an epoch's end: checkpoints {sorted(models(at_end))}")
check(not glob.glob(f"{at_end}/checkpoints/*_b*.safetensors"), "--max-steps at an epoch's end left a mid-epoch checkpoint")
run(base + ["--out", at_end, "--checkpoint-minutes", "0", "--resume"])
check(models(at_end) == ref_models and metrics(at_end) == metrics(ref),
      "resumed after --max-steps at an epoch's end: not the uninterrupted run")
# The same where that epoch's end writes no checkpoint (--save-interval 2): the steps are kept in
# a mid-epoch checkpoint, as anywhere else in an epoch, and --resume goes on from it.
no_save = f"{tmp}/max_steps_no_save"
p = run(base + ["--out", no_save, "--checkpoint-minutes", "0", "--save-interval", "2", "--max-steps",
                str(ref_steps // 2)])
check("at an epoch's end" not in p.stdout and glob.glob(f"{no_save}/checkpoints/*_b*.safetensors"),
      f"--max-steps at the end of an epoch that saves nothing: {p.stdout[-300:]}")
run(base + ["--out", no_save, "--checkpoint-minutes", "0", "--save-interval", "2", "--resume"])
check(metrics(no_save) == metrics(ref), "resumed after --max-steps with --save-interval 2: not the uninterrupted run")

# Interrupted: checkpoint every ~12 ms (an epoch can take under 0.1 s), kill -9 at a random moment
# after the first mid-epoch checkpoint is complete, resume (and kill the resumed run too, once),
# then finish.
seed = int(os.environ.get("DS_RESUME_SEED", str(random.randrange(1 << 30))))
rnd = random.Random(seed)
out = f"{tmp}/int"
kills = 0
args = base + ["--out", out, "--checkpoint-minutes", "0.0002"]
# On a fast CPU the run can end inside the random wait (this 2-epoch run takes about a second):
# then it starts over from an empty folder with waits a quarter as long, up to 4 times.
scale = 0.4
for _ in range(4):
    shutil.rmtree(out, ignore_errors=True)
    for attempt in range(2):
        p = subprocess.Popen([DEEPSLIDE] + args + (["--resume"] if attempt else []),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while (time.time() < deadline and p.poll() is None
               and not glob.glob(f"{out}/checkpoints/*_b*.state.safetensors")):
            time.sleep(0.02)
        time.sleep(rnd.uniform(0, scale * ref_seconds))
        if p.poll() is None:
            p.kill()
            kills += 1
        p.wait()
    if kills:
        break
    scale /= 4
check(kills >= 1, "the interrupted run finished before it could be killed, 4 times")
resumed = run(args + ["--resume"])
check("resuming from" in resumed.stderr, "resume message missing: " + resumed.stderr[:300])
got = models(out)
check(sorted(got) == sorted(ref_models), f"checkpoint names {sorted(got)} != {sorted(ref_models)} (kill seed {seed})")
for name, b in ref_models.items():
    check(got.get(name) == b, f"{name}: resumed weights differ from the uninterrupted run (kill seed {seed})")
check(metrics(out) == metrics(ref), f"log.csv metrics differ (kill seed {seed}):\n{metrics(out)}\n{metrics(ref)}")
check(open(f"{out}/best.safetensors", "rb").read() == open(f"{ref}/best.safetensors", "rb").read(),
      "best.safetensors differs")
check(not glob.glob(f"{out}/checkpoints/*_b*.safetensors"), "mid-epoch checkpoints left after the run")
check(not glob.glob(f"{out}/**/*.tmp.*", recursive=True), "temporary files of killed writes left after the run")

# SIGTERM (as a scheduler stops a job): a checkpoint of the steps done, a message naming it, exit
# 143; --resume then ends as the uninterrupted run (no mid-epoch checkpoints otherwise).
# The reference's time can be a slow moment's (other tests running beside it): when the run ends
# before the signal, it starts over with waits a quarter as long, up to 6 times.
out_t = f"{tmp}/term"
wait = (0.2, 0.8)
for _ in range(6):
    shutil.rmtree(out_t, ignore_errors=True)
    p = subprocess.Popen([DEEPSLIDE] + base + ["--out", out_t, "--checkpoint-minutes", "0"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(rnd.uniform(*wait) * ref_seconds)
    if p.poll() is None:
        p.send_signal(15)
    _, err = p.communicate(timeout=120)
    if p.returncode == 143:
        break
    wait = (wait[0] / 4, wait[1] / 4)
check(p.returncode == 143 and "rerun with --resume to continue" in err and
      glob.glob(f"{out_t}/checkpoints/*_b*.state.safetensors"), f"SIGTERM in train: exit {p.returncode}: {err[-400:]}")
run(base + ["--out", out_t, "--checkpoint-minutes", "0", "--resume"])
check(models(out_t) == ref_models and metrics(out_t) == metrics(ref),
      "a run stopped by SIGTERM and resumed differs from the uninterrupted run")

# Refusals, each naming the file. Work on copies of the reference run.
ck = sorted(ref_models)[0]


def copy_run(name):
    """A run folder holding a copy of the reference's first checkpoint."""
    d = f"{tmp}/{name}"
    os.makedirs(f"{d}/checkpoints")
    state_name = ck[:-len(".safetensors")] + ".state.safetensors"
    for f in (ck, state_name):
        shutil.copy(f"{ref}/checkpoints/{f}", f"{d}/checkpoints/{f}")
    return d, f"{d}/checkpoints/{ck}", f"{d}/checkpoints/{state_name}"


d, model, state = copy_run("trunc")
with open(state, "r+b") as f:
    f.truncate(os.path.getsize(state) // 2)
p = run(base + ["--out", d, "--resume", model], expect=2)
check(state in error_line(p), "truncated state file not named: " + error_line(p))

d, model, state = copy_run("flip")
with open(model, "r+b") as f:
    f.seek(os.path.getsize(model) - 100)
    byte = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([byte[0] ^ 0x55]))
p = run(base + ["--out", d, "--resume", model], expect=2)
check(model in error_line(p), "modified model file not named: " + error_line(p))

d, model, state = copy_run("partial")
os.remove(state)
p = run(base + ["--out", d, "--resume", model], expect=2)
check(state in error_line(p) and "partial" in error_line(p), "missing state file not named: " + error_line(p))

d, model, state = copy_run("garbage")
with open(state, "wb") as f:
    f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
p = run(base + ["--out", d, "--resume", model], expect=2)
check(state in error_line(p), "garbage state file not named: " + error_line(p))

d, model, state = copy_run("config")
p = run([a if a != "11" else "12" for a in base] + ["--out", d, "--resume"], expect=2)
check(state in error_line(p) and "--seed" in error_line(p), "changed --seed not refused by name: " + error_line(p))

# Other data under the same folder name: one training image moved to the other class (the counts
# stay the same; the checkpoint records the images by name and size, and a slides run its label
# CSVs' contents and the slides' identities).
d, model, state = copy_run("data")
moved = sorted(glob.glob(f"{data}/train/dense/*.png"))[0]
shutil.move(moved, f"{data}/train/sparse/moved.png")
p = run(base + ["--out", d, "--resume", model], expect=2)
check(state in error_line(p) and "data" in error_line(p), "resume on other data not refused: " + error_line(p))
shutil.move(f"{data}/train/sparse/moved.png", moved)

# A fresh run into a folder with checkpoints is refused rather than mixing runs.
p = run(base + ["--out", ref], expect=2)
check("--resume" in error_line(p), "fresh run over existing checkpoints not refused: " + error_line(p))

# Resuming the finished 2-epoch run with --epochs 1 would take its best among epochs this run never
# asked for: refused, naming the checkpoint and the epochs done.
fewer = list(base)
fewer[fewer.index("--epochs") + 1] = "1"
p = run(fewer + ["--out", ref, "--resume"], expect=2)
check("is 2 epochs into training, more than --epochs 1 allows; resume with --epochs 2" in error_line(p) and
      "checkpoints" in error_line(p),
      "resume with fewer epochs not refused: " + error_line(p))

if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"ok (kill seed {seed}, {kills} kill(s), reference run {ref_seconds:.1f} s)")
shutil.rmtree(tmp)
