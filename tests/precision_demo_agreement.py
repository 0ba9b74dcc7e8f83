#!/usr/bin/python3
"""make accuracy-precision: do the faster arithmetics keep a trained model's answers? The demo's
model bundle (`make demo`'s demo/bundle.safetensors; made first, without the stain check, when
missing) diagnoses the demo's test slides, which training never saw, with `deepslide diagnose`:
fp32 with direct convolutions (the reference), fp32 with Winograd forced on every 3x3 stride-1
convolution and with `--conv-algo auto`, bf16, and int8 after `deepslide calibrate` on the
training slides. Each run's windows are compared with the reference's, window by window.

Bars (issue 27 for fp32's algorithms, issue 20 for bf16 and int8): the share of windows keeping
the reference's argmax >= 99.9% (fp32) / 99.5% (bf16, int8); the largest |probability difference|
<= 1e-3 (fp32), 0.02 (bf16), 0.05 (int8); every slide's diagnosis unchanged. bf16 and int8 run
only where the CPU has AVX512-BF16 / AVX512-VNNI or AVX-VNNI (the script says which it could not run; those
never count as passed). Prints one table row per run and exits 1 when a bar is missed.
Minutes: `make demo`'s training when demo/ is new, then five diagnose runs of 9 slides.
Probabilities are compared as the CSVs hold them (6 significant digits), so 1e-6 is "equal".
Usage: tests/precision_demo_agreement.py [--demo DIR: a finished make demo folder] (env DEEPSLIDE: the binary, else build/deepslide)."""
import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEEPSLIDE = os.environ.get("DEEPSLIDE", os.path.join(ROOT, "build", "deepslide"))

with open("/proc/cpuinfo") as f:
    FLAGS = next((line.split() for line in f if line.startswith("flags")), [])

# name, flags, needed CPU flags (any of), argmax bar, probability bar
RUNS = [("fp32 direct", ["--conv-algo", "direct"], None, None, None),
        ("fp32 winograd", ["--conv-algo", "winograd"], None, 0.999, 1e-3),
        ("fp32 auto", ["--conv-algo", "auto"], None, 0.999, 1e-3),
        ("bf16", ["--precision", "bf16"], ["avx512_bf16"], 0.995, 0.02),
        ("int8", ["--precision", "int8"], ["avx512_vnni", "avx_vnni"], 0.995, 0.05)]


def sh(cmd, **kw):
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def slides_of(demo, split):
    with open(os.path.join(demo, f"labels_{split}.csv")) as f:
        return [os.path.join(demo, "all_wsi", row["img"]) for row in csv.DictReader(f)]


def windows(out):
    """{(slide folder, x, y): probabilities} and {slide folder: diagnosis} of a diagnose run."""
    probs, diagnoses = {}, {}
    with open(os.path.join(out, "diagnoses.csv")) as f:
        for row in csv.DictReader(f):
            diagnoses[os.path.basename(row["slide"])] = row["diagnosis"]
    for d in sorted(os.listdir(out)):
        path = os.path.join(out, d, "windows.csv")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for row in csv.DictReader(f):
                probs[(d, row["x"], row["y"])] = [float(v) for k, v in row.items() if k.startswith("prob_")]
    return probs, diagnoses


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", default=os.path.join(ROOT, "demo"), help="make demo's work folder")
    a = ap.parse_args()
    bundle = os.path.join(a.demo, "bundle.safetensors")
    if not os.path.exists(bundle):
        if os.path.abspath(a.demo) != os.path.join(ROOT, "demo"):
            sys.exit(f"precision_demo_agreement: {bundle}: no bundle (run make demo, or leave out --demo)")
        sh(["bash", os.path.join(ROOT, "scripts", "demo.sh")], cwd=ROOT,
           env=dict(os.environ, DEMO_STAIN="0", DEEPSLIDE=DEEPSLIDE))
    out = os.path.join(a.demo, "precision_agreement")
    os.makedirs(out, exist_ok=True)
    # The calibrated copy is redone whenever the bundle, the calibration slides or the deepslide
    # binary differ from the ones it was made from (a retrained demo must not be judged by its
    # predecessor's copy, nor a new calibration method by the old one's).
    calibrated = os.path.join(out, "bundle_calibrated.safetensors")
    train = slides_of(a.demo, "train")
    with open(bundle, "rb") as f, open(DEEPSLIDE, "rb") as g:
        source = {"bundle_sha256": hashlib.file_digest(f, "sha256").hexdigest(), "slides": train,
                  "deepslide_sha256": hashlib.file_digest(g, "sha256").hexdigest()}
    source_path = calibrated + ".source.json"
    try:
        with open(source_path) as f:
            made_from = json.load(f)
    except (OSError, ValueError, RecursionError):  # missing or unreadable: the copy's origin is unknown, so redo it
        made_from = None
    if not os.path.exists(calibrated) or made_from != source:
        if os.path.exists(source_path):
            os.remove(source_path)
        sh([DEEPSLIDE, "calibrate", "--model", bundle, "--out", calibrated, *train])
        with open(source_path + ".tmp", "w") as f:
            json.dump(source, f)
        os.replace(source_path + ".tmp", source_path)
    test = slides_of(a.demo, "test")

    results, ref, failed, missing = [], None, False, []
    for name, flags, needs, arg_bar, prob_bar in RUNS:
        if needs and not set(needs) & set(FLAGS):
            missing.append(f"{name} (this CPU lacks {' and '.join(needs)})")
            continue
        run_out = os.path.join(out, name.replace(" ", "_"))
        sh([DEEPSLIDE, "diagnose", "--bundle", calibrated, "--out", run_out, "--quiet", *flags, *test])
        probs, diagnoses = windows(run_out)
        if ref is None:
            ref = (probs, diagnoses)
            results.append((name, len(probs), None, None, None, "reference"))
            continue
        keys = ref[0].keys()
        if probs.keys() != keys:
            results.append((name, len(probs), None, None, None, "FAIL: other windows than the reference's"))
            failed = True
            continue
        same = sum(max(range(len(p)), key=p.__getitem__) == max(range(len(q)), key=q.__getitem__)
                   for p, q in ((probs[k], ref[0][k]) for k in keys))
        worst = max(abs(u - v) for k in keys for u, v in zip(probs[k], ref[0][k]))
        changed = sorted(s for s in ref[1] if diagnoses.get(s) != ref[1][s])
        share = same / max(1, len(keys))
        ok = share >= arg_bar and worst <= prob_bar and not changed
        failed |= not ok
        verdict = ("ok" if ok else "FAIL") + (f": diagnoses changed {changed}" if changed else "")
        results.append((name, len(keys), share, worst, len(ref[1]) - len(changed), verdict))

    print(f"\n{'run':14} {'windows':>8} {'argmax kept':>12} {'max |dp|':>10} {'diagnoses kept':>15}  verdict")
    for name, n, share, worst, kept, verdict in results:
        print(f"{name:14} {n:8d} {'' if share is None else f'{100 * share:.2f}%':>12} "
              f"{'' if worst is None else f'{worst:.2e}':>10} "
              f"{'' if kept is None else f'{kept}/{len(ref[1])}':>15}  {verdict}")
    for m in missing:
        print(f"not run: {m}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
