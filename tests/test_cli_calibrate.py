#!/usr/bin/python3
"""`deepslide calibrate` from the outside: windows of slides (two fixture slides, tissue filter off)
spread under --windows, the ranges written as metadata int8_act_max (all 19 convs but conv1, each a
positive number) with the input file's other metadata kept, and bad input giving exit code 2 and
one line naming the file. Run by ctest with /usr/bin/python3; env DEEPSLIDE, DS_FIXTURES.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

DEEPSLIDE = os.environ["DEEPSLIDE"]
SLIDES = [os.path.join(os.environ["DS_FIXTURES"], "slides", s) for s in ("philips.tiff", "leica.scn")]
failures = []


def ds(*args):
    return subprocess.run([DEEPSLIDE, *args], capture_output=True, text=True)


def check(cond, what, res=None):
    if not cond:
        extra = f"\n  exit {res.returncode}\n  stdout: {res.stdout!r}\n  stderr: {res.stderr!r}" if res else ""
        failures.append(what + extra)
        print("FAIL:", what + extra)


def metadata(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n])["__metadata__"]


def expect_error(label, args, needles):
    res = ds(*args)
    lines = res.stderr.splitlines()
    check(res.returncode == 2 and lines and lines[-1].startswith("deepslide: error: "), f"{label}: exit 2", res)
    for n in needles:
        check(n in res.stderr, f"{label}: message mentions {n!r}", res)
    print(f"ok  {label}: {lines[-1] if lines else ''}")


def main():
    tmp = tempfile.mkdtemp(prefix="ds_cli_calibrate_")
    try:
        model = os.path.join(tmp, "m.safetensors")
        res = ds("init-model", "--arch", "resnet18", "--classes", "a,b", "--patch-size", "32", "--seed", "1",
                 "--out", model)
        check(res.returncode == 0, "init-model", res)
        out = os.path.join(tmp, "m.int8.safetensors")
        res = ds("calibrate", "--model", model, "--out", out, "--windows", "6", "--tissue", "none", *SLIDES)
        check(res.returncode == 0 and "calibrate: 6 windows; 19 of 20 convolutions run int8" in res.stdout,
              "calibrate: 6 windows over two slides", res)
        for s in SLIDES:
            check(f"calibrate: {s}" in res.stderr, f"progress names {s}", res)
        meta = metadata(out) if os.path.exists(out) else {}
        ranges = json.loads(meta.get("int8_act_max", "{}"))
        check(len(ranges) == 19 and "conv1" not in ranges and "layer1.0.conv1" in ranges
              and "layer2.0.downsample.0" in ranges, f"ranges of 19 convs: {sorted(ranges)}")
        check(all(isinstance(v, float) and v > 0 for v in ranges.values()), f"ranges positive: {ranges}")
        before = metadata(model)
        check({k: v for k, v in meta.items() if k != "int8_act_max"} == before, "the other metadata kept")
        print("ok  calibrate on slide windows")

        # Calibrating the calibrated file again replaces the ranges (and keeps one key).
        res = ds("calibrate", "--model", out, "--out", out, "--windows", "2", "--tissue", "none", SLIDES[0])
        check(res.returncode == 0 and "calibrate: 2 windows" in res.stdout, "recalibrate in place", res)
        check(set(metadata(out)) == set(meta), "recalibrated: same keys", res)

        missing = os.path.join(tmp, "nope.svs")
        expect_error("missing slide", ["calibrate", "--model", model, "--out", out, missing], [missing])
        expect_error("--windows 0", ["calibrate", "--model", model, "--out", out, "--windows", "0", SLIDES[0]],
                     ["--windows"])
        expect_error("missing model", ["calibrate", "--model", missing, "--out", out, SLIDES[0]], [missing])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("OK")


if __name__ == "__main__":
    main()
