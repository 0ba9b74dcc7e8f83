#!/usr/bin/python3
"""`deepslide calibrate` from the outside: windows of slides (two fixture slides, tissue filter off)
spread under --windows, the ranges written as metadata int8_act_max (all 20 convs: each a positive
number, conv1's, whose input is signed, a pair [min < 0, max > 0]) with the input file's other metadata kept, and bad input giving exit code 2 and
one line naming the file. Run by ctest with /usr/bin/python3; env DEEPSLIDE, DS_FIXTURES.
"""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, error_line, failures, model_metadata, run  # noqa: E402

SLIDES = [os.path.join(os.environ["DS_FIXTURES"], "slides", s) for s in ("philips.tiff", "leica.scn")]


def main():
    tmp = tempfile.mkdtemp(prefix="ds_cli_calibrate_")
    try:
        model = os.path.join(tmp, "m.safetensors")
        run(["init-model", "--arch", "resnet18", "--classes", "a,b", "--patch-size", "32", "--seed", "1", "--out", model])
        out = os.path.join(tmp, "m.int8.safetensors")
        p = run(["calibrate", "--model", model, "--out", out, "--windows", "6", "--tissue", "none", *SLIDES])
        check("calibrate: 6 windows; 20 of 20 convolutions run int8" in p.stdout, f"6 windows over two slides: {p.stdout!r}")
        for s in SLIDES:
            check(f"calibrate: {s}" in p.stderr, f"progress names {s}: {p.stderr!r}")
        meta = model_metadata(out) if os.path.exists(out) else {}
        ranges = json.loads(meta.get("int8_act_max", "{}"))
        check(len(ranges) == 20 and "conv1" in ranges and "layer1.0.conv1" in ranges
              and "layer2.0.downsample.0" in ranges, f"ranges of 20 convs: {sorted(ranges)}")
        c1 = ranges.pop("conv1", None)
        check(c1 == "image", f"conv1 quantized as the image (codes = pixels): {c1}")
        check(all(isinstance(v, float) and v > 0 for v in ranges.values()), f"ranges positive: {ranges}")
        # Where the CPU has bf16 or int8 kernels calibrate also records their agreement with fp32
        # on the same windows (weights/precision_agreement.h).
        added = ("int8_act_max", "precision_agreement")
        check({k: v for k, v in meta.items() if k not in added} == model_metadata(model),
              f"the other metadata kept: {sorted(meta)}")
        if "precision_agreement" in meta:
            agreement = json.loads(meta["precision_agreement"])
            check(agreement.get("windows") == 6 and ("bf16" in agreement or "int8" in agreement),
                  f"agreement measured on the 6 windows: {agreement}")

        # Calibrating the calibrated file again, in place, replaces the ranges.
        p = run(["calibrate", "--model", out, "--out", out, "--windows", "2", "--tissue", "none", SLIDES[0]])
        check("calibrate: 2 windows" in p.stdout, f"recalibrate in place: {p.stdout!r}")
        check(set(model_metadata(out)) == set(meta), "recalibrated: same keys")
        # --windows is an upper bound: 5 over two slides is 3 + 2, not 3 + 3.
        p = run(["calibrate", "--model", out, "--out", out, "--windows", "5", "--tissue", "none",
                 "--agreement-windows", "0", *SLIDES])
        check("calibrate: 5 windows" in p.stdout, f"--windows 5 over two slides: {p.stdout!r}")
        # A folder is walked for slides, as diagnose walks it (here one slide in a sub-folder).
        folder = os.path.join(tmp, "slides")
        os.makedirs(os.path.join(folder, "sub"))
        shutil.copy(SLIDES[0], folder)
        shutil.copy(SLIDES[1], os.path.join(folder, "sub"))
        p = run(["calibrate", "--model", out, "--out", out, "--windows", "6", "--tissue", "none",
                 "--agreement-windows", "0", folder])
        check("calibrate: 6 windows" in p.stdout and p.stderr.count("calibrate: ") >= 2,
              f"a folder of slides: {p.stdout!r} {p.stderr!r}")

        missing = os.path.join(tmp, "nope.svs")
        for label, args, needle in [
                ("missing slide", ["--model", model, "--out", out, missing], missing),
                ("--windows 0", ["--model", model, "--out", out, "--windows", "0", SLIDES[0]], "--windows"),
                ("missing model", ["--model", missing, "--out", out, SLIDES[0]], missing)]:
            line = error_line(run(["calibrate", *args], expect=2))
            check(needle in line, f"{label}: the error names {needle}: {line}")
            print(f"ok  {label}: {line}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("\n".join(failures))
        sys.exit(f"{len(failures)} check(s) failed")
    print("OK")


if __name__ == "__main__":
    main()
