#!/usr/bin/python3
"""Stopping `deepslide run` while a stage runs: SIGTERM sent to run alone (as `timeout` or `kill`
do) is passed on to the stage, and run waits for the stage to save its state before it exits 143
saying where it stopped; Ctrl-C as a terminal sends it (SIGINT to run and its stage at once, the
stage then getting it twice) stops the stage cleanly too (exit 130, a checkpoint, not a kill). When
run has exited nothing of it is left: the workdir's lock, which the stage processes inherit, is
free. A rerun resumes train from the checkpoint the stop saved.
Run by ctest (DEEPSLIDE set)."""
import fcntl
import glob
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import DEEPSLIDE, check, failures, run, tempdir  # noqa: E402

tmp = tempdir("ds_run_interrupt_")
wsi = f"{tmp}/wsi"
work = f"{tmp}/work"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "3", "--width", "800", "--height", "600",
     "--seed", "5"])
config = f"{tmp}/long_train.toml"
with open(config, "w") as f:  # a train stage far longer than the test waits
    f.write(f'workdir = "{work}"\n[common]\nall_wsi = "{wsi}"\npatch_size = 32\nlevel = 2\nthreads = 2\n'
            '[split]\nval_per_class = 1\ntest_per_class = 1\n'
            '[train]\nnum_train_per_class = 16\nepochs = 100000\nbatch_size = 16\nnorm_samples = 32\n'
            'checkpoint_minutes = 0\nsave_interval = 1000000\n')  # (no epoch checkpoints: they would fill the disk)


def start_run(wait_for):
    """Starts run (in a process group of its own, output to files) and waits until its stderr or
    stdout shows `wait_for`; returns the process and a function reading (stdout, stderr)."""
    out_path, err_path = f"{tmp}/out.txt", f"{tmp}/err.txt"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        p = subprocess.Popen([DEEPSLIDE, "run", "--config", config], stdout=out, stderr=err, text=True,
                             start_new_session=True)

    def texts():
        return open(out_path).read(), open(err_path).read()

    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and not any(wait_for in t for t in texts()):
        time.sleep(0.1)
    if p.poll() is not None or not any(wait_for in t for t in texts()):
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        failures.append(f"run never showed '{wait_for}': {texts()[1][-600:]}")
        return None, texts
    return p, texts


def stop(p, sig, group):
    """Sends `sig` (to run's whole process group when `group`, as a terminal's Ctrl-C does, else to
    run alone) and returns run's exit code."""
    try:
        if group:
            os.killpg(p.pid, sig)
        else:
            p.send_signal(sig)
    except ProcessLookupError:
        pass  # (run already gone: the checks below say so)
    try:
        return p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        failures.append(f"run did not stop within 60 s of {signal.Signals(sig).name}")
        return p.wait()


def lock_is_free():
    with open(f"{work}/.stages/lock") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False


for sig, group, code, name in [(signal.SIGTERM, False, 143, "SIGTERM"), (signal.SIGINT, True, 130, "SIGINT")]:
    label = f"{name} to {'the process group' if group else 'run alone'}"
    p, texts = start_run("/100000: train loss")  # an epoch ended in this run: train is under way
    if p is None:
        continue
    rc = stop(p, sig, group)
    out, err = texts()
    check(rc == code, f"{label}: exit {rc}, expected {code}: {err[-800:]}")
    check(f"stopped ({name}) in stage train" in err, f"{label}: run did not say where it stopped: {err[-800:]}")
    check("its state is in" in err and "killed by signal" not in err,
          f"{label}: the stage did not stop by itself (saving its state): {err[-800:]}")
    check(lock_is_free(), f"{label}: the workdir is still locked after run exited (a stage left running)")
    check(glob.glob(f"{work}/checkpoints/*_b*.safetensors"), f"{label}: no checkpoint of the steps done")
    # The rerun resumes train from there (and is stopped again once it has said so).
    p, texts = start_run("resuming from the last checkpoint")
    if p is None:
        continue
    rc = stop(p, signal.SIGTERM, False)
    check(rc == 143 and lock_is_free(), f"{label}: the rerun did not stop cleanly: exit {rc}: {texts()[1][-600:]}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
