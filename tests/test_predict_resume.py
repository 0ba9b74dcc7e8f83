#!/usr/bin/python3
"""`deepslide predict` interrupted and resumed: a slide big enough that predicting it takes some
seconds with a tiny model (generated here by `deepslide synth`), run with --commit-seconds 0.2 and
killed once its first chunk of predictions is committed: with SIGTERM (the chunk in hand is committed, exit 143, a
message naming the partial file) and with SIGKILL (the last commit is all there is); each rerun
continues from the partial file and ends with a CSV byte-identical to an uninterrupted run's, and
the partial file is gone. Also the progress output when stderr is not a terminal: lines appear
from the tissue scan on, at a bounded rate (DEEPSLIDE_PROGRESS_INTERVAL), and --quiet has none.
Run by ctest (DEEPSLIDE set)."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import (DEEPSLIDE, check, failures, interrupted_after_commit, out_name, partial_rows,  # noqa: E402
                         run, tempdir)

tmp = tempdir("ds_predict_resume_")
wsi = f"{tmp}/wsi"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "1", "--width", "1600", "--height", "1600",
     "--seed", "5"])
cls = sorted(os.listdir(wsi))
img = f"{cls[0]}/{sorted(os.listdir(f'{wsi}/{cls[0]}'))[0]}"
with open(f"{tmp}/labels.csv", "w") as f:
    f.write(f"img,gt\n{img},{cls[0]}\n")
run(["init-model", "--arch", "resnet18", "--classes", ",".join(cls), "--patch-size", "32", "--out", f"{tmp}/m.safetensors"])
name = out_name(img)


def args(out, *extra):
    return ["predict", "--model", f"{tmp}/m.safetensors", "--all-wsi", wsi, "--labels", f"{tmp}/labels.csv",
            "--out", out, "--overlap", "1", "--tissue", "none", "--batch-size", "16", "--threads", "2",
            "--commit-seconds", "0.2", *extra]


# Uninterrupted reference, with plain progress lines every 0.1 s: a fast CPU predicts this slide in
# 0.6 s, so a longer interval left too few lines to judge.
INTERVAL = 0.1
env = dict(os.environ, DEEPSLIDE_PROGRESS_INTERVAL=str(INTERVAL))
t0 = time.monotonic()
p = subprocess.run([DEEPSLIDE, *args(f"{tmp}/ref")], capture_output=True, text=True, env=env)
elapsed = time.monotonic() - t0
check(p.returncode == 0, f"reference run: exit {p.returncode}: {p.stderr[-600:]}")
ref = open(f"{tmp}/ref/{name}.csv", "rb").read()
total = ref.count(b"\n") - 1
check(total > 800, f"{total} windows: the slide is too small to interrupt")
check(not os.path.exists(f"{tmp}/ref/{name}.partial"), "partial file removed once the slide is finished")
lines = [line for line in p.stderr.splitlines() if line.startswith("predict: 1/1 ")]
check(len(lines) >= min(3, 1 + int(elapsed / INTERVAL)), f"progress lines appear in {elapsed:.2f} s: {p.stderr[-800:]}")
check(lines and "tissue scan" in lines[0], f"the first progress line is the tissue scan's: {lines[:1]}")
check(any("windows/s" in line and "ETA" in line for line in lines), f"rate and ETA shown: {lines[:3]}")
check(len(lines) <= elapsed / INTERVAL + 4, f"{len(lines)} progress lines in {elapsed:.1f} s at one per {INTERVAL} s")
check("\r" not in p.stderr, "no in-place redraw when stderr is not a terminal")
meta = json.load(open(f"{tmp}/ref/predict.json"))
entry = meta["slides"].get(name, {})
for k in ("windows", "seconds", "scan_seconds", "read_seconds", "net_seconds"):
    check(k in entry, f"predict.json's slide entry has {k}: {entry}")
check(entry.get("windows") == total, f"predict.json windows {entry.get('windows')} vs {total} rows")



foreign = b""
for sig, code in ((signal.SIGTERM, 143), (signal.SIGKILL, -9)):
    out = f"{tmp}/{sig.name}"
    rc, err = interrupted_after_commit(args(out), f"{out}/{name}.partial", sig)
    check(rc == code, f"{sig.name}: exit {rc}, expected {code}: {err[-600:]}")
    if sig == signal.SIGTERM:
        last = err.strip().splitlines()[-1] if err.strip() else ""
        check("interrupted (SIGTERM)" in last and f"{name}.partial" in last, f"SIGTERM message: {last!r}")
    check(os.path.exists(f"{out}/{name}.partial"), f"{sig.name}: partial file kept")
    check(not os.path.exists(f"{out}/{name}.csv"), f"{sig.name}: no CSV for an unfinished slide")
    rows = partial_rows(f"{out}/{name}.partial") if os.path.exists(f"{out}/{name}.partial") else 0
    check(0 < rows < total, f"{sig.name}: {rows} of {total} rows committed")
    if os.path.exists(f"{out}/{name}.partial"):
        foreign = open(f"{out}/{name}.partial", "rb").read()
    p = subprocess.run([DEEPSLIDE, *args(out, "--quiet")], capture_output=True, text=True, env=env)
    check(p.returncode == 0, f"{sig.name}: rerun exit {p.returncode}: {p.stderr[-600:]}")
    check(not any(line.startswith("predict: 1/1 ") for line in p.stderr.splitlines()), f"--quiet: {p.stderr[-400:]}")
    check(f"{rows} resumed" in p.stderr, f"{sig.name}: rerun resumes from row {rows}: {p.stderr[-600:]}")
    got = open(f"{out}/{name}.csv", "rb").read() if os.path.exists(f"{out}/{name}.csv") else b""
    check(got == ref, f"{sig.name}: resumed CSV differs from the uninterrupted run's ({len(got)} vs {len(ref)} bytes)")
    check(not os.path.exists(f"{out}/{name}.partial"), f"{sig.name}: partial file removed")
    check(not [f for f in os.listdir(out) if ".tmp." in f], f"{sig.name}: temporaries left: {os.listdir(out)}")

# predict.json is rewritten at most once a second (here once an hour), but a stop (SIGTERM) still
# lists every slide finished before it with its full entry (candidates, timings), not one rebuilt
# on the next run.
img2 = f"{cls[1]}/{sorted(os.listdir(f'{wsi}/{cls[1]}'))[0]}"
with open(f"{tmp}/labels2.csv", "w") as f:
    f.write(f"img,gt\n{img},{cls[0]}\n{img2},{cls[1]}\n")
out = f"{tmp}/two"
two = [a if a != f"{tmp}/labels.csv" else f"{tmp}/labels2.csv" for a in args(out)]
rc, err = interrupted_after_commit(two, f"{out}/{out_name(img2)}.partial", signal.SIGTERM,
                                   dict(os.environ, DEEPSLIDE_PREDICT_JSON_INTERVAL="3600"))
check(rc == 143, f"two slides, SIGTERM in the second: exit {rc}: {err[-400:]}")
listed = json.load(open(f"{out}/predict.json"))["slides"] if os.path.exists(f"{out}/predict.json") else {}
check(list(listed) == [name] and listed[name].get("candidates") is not None and listed[name].get("seconds", 0) > 0,
      f"after SIGTERM in the second slide predict.json lists the first in full: {listed}")

# A partial file for other inputs (here: another pyramid level) is not used: the slide is
# predicted from the start, and the run says why.
out = f"{tmp}/other"
os.makedirs(out)
with open(f"{out}/{name}.partial", "wb") as f:
    f.write(foreign)
p = run(args(out, "--level", "1"))
check("not used" in p.stderr and "--level changed (0 -> 1)" in p.stderr, f"foreign partial file refused: {p.stderr[-600:]}")
check(not os.path.exists(f"{out}/{name}.partial") and os.path.exists(f"{out}/{name}.csv"), "level-1 CSV written")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
