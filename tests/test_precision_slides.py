#!/usr/bin/python3
"""--precision on the slide commands: `predict` and `diagnose` at bf16 and int8.
- Where the CPU has AVX512-BF16 / AVX512-VNNI or AVX-VNNI the real kernels run; elsewhere the reference
  twins (DEEPSLIDE_ISA=ref, which --precision accepts), and the test says so. Either way the
  wiring is what is checked here (the kernels against their twins: test_bf16, test_int8).
- predict at bf16 (int8, after `deepslide calibrate`) into the folder fp32 filled: each slide is
  redone and the outcome says the precision changed; predict.json records the precision; every
  window's probabilities within 0.02 (bf16) / 0.05 (int8) of fp32's, and the same argmax wherever
  fp32's two classes are further apart than twice that; a rerun at the same precision skips.
- diagnose --precision: diagnosis.json records it and its key; a rerun at another precision
  redoes the slide ("the precision changed"), the same one skips it.
- calibrate records bf16's and int8's agreement with fp32; --precision auto picks int8 from it (the
  same key as an explicit int8 run), what this CPU's kernels allow without reference mode, and
  fp32 for a model without a record, saying why each time.
- Refusals: int8 on an uncalibrated model names the file and `deepslide calibrate`; bf16 / int8
  on a CPU without the extension (not in reference mode) name the missing extension.
Run by ctest (DEEPSLIDE set)."""
import csv
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import DEEPSLIDE, check, error_line, failures, out_name, tempdir  # noqa: E402

with open("/proc/cpuinfo") as f:
    FLAGS = next((l.split() for l in f if l.startswith("flags")), [])
HAS = {"bf16": "avx512_bf16" in FLAGS, "int8": "avx512_vnni" in FLAGS or "avx_vnni" in FLAGS}
BOUND = {"bf16": 0.02, "int8": 0.05}


def ds(args, precision="fp32", expect=0):
    """Runs deepslide; at a reduced precision the CPU lacks, on the reference kernels (and at fp32
    too when any reduced precision needs them, so every comparison is within one kernel family)."""
    env = dict(os.environ)
    if not all(HAS.values()):
        env["DEEPSLIDE_ISA"] = "ref"
    p = subprocess.run([DEEPSLIDE, *args, "--precision", precision], capture_output=True, text=True, env=env)
    if p.returncode != expect:
        failures.append(f"deepslide {' '.join(args)} --precision {precision}: exit {p.returncode}, expected {expect}: "
                        f"{p.stderr.strip()[-800:]}")
    return p


tmp = tempdir("ds_precision_slides_")
wsi = f"{tmp}/wsi"
subprocess.run([DEEPSLIDE, "synth", "--out", wsi, "--classes", "2", "--slides-per-class", "1", "--width", "256",
                "--height", "256", "--seed", "7"], check=True, capture_output=True)
cls = sorted(os.listdir(wsi))
slide_rel = f"{cls[0]}/{sorted(os.listdir(f'{wsi}/{cls[0]}'))[0]}"
slide = f"{wsi}/{slide_rel}"
model, calibrated = f"{tmp}/m.safetensors", f"{tmp}/m.int8.safetensors"
subprocess.run([DEEPSLIDE, "init-model", "--arch", "resnet18", "--classes", ",".join(cls), "--patch-size", "32", "--out",
                model], check=True, capture_output=True)
# Calibration measures bf16's and int8's agreement with fp32 on 16 of its windows (on the reference
# twins where the CPU lacks the kernels, as every reduced-precision run here).
cal = subprocess.run([DEEPSLIDE, "calibrate", "--model", model, "--out", calibrated, slide, "--windows", "64", "--level",
                      "0", "--overlap", "1", "--tissue", "none", "--agreement-windows", "16"], capture_output=True,
                     text=True, env=dict(os.environ, **({} if all(HAS.values()) else {"DEEPSLIDE_ISA": "ref"})))
check(cal.returncode == 0, f"calibrate: {cal.stderr[-600:]}")
with open(calibrated, "rb") as f:
    header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
agreement = json.loads(header.get("__metadata__", {}).get("precision_agreement", "{}"))
check(agreement.get("windows") == 16 and set(agreement) == {"windows", "bf16", "int8"},
      f"calibrate records the agreement of both precisions on 16 windows: {agreement}")
with open(f"{tmp}/labels.csv", "w") as f:
    f.write(f"img,gt\n{slide_rel},{cls[0]}\n")
W = ["--level", "0", "--overlap", "1", "--tissue", "none", "--threads", "2", "--batch-size", "16", "--quiet"]
where = {p: "its SIMD kernels" if HAS[p] else "the reference kernels (this CPU lacks " +
         ("AVX512-BF16" if p == "bf16" else "AVX512-VNNI and AVX-VNNI") + ")" for p in HAS}
print(f"bf16 on {where['bf16']}; int8 on {where['int8']}")


def rows(path):
    with open(path) as f:
        return [r for r in csv.DictReader(f)]


def predict(precision, out):
    return ds(["predict", "--model", calibrated, "--all-wsi", wsi, "--labels", f"{tmp}/labels.csv", "--out", out, *W],
              precision)


# bf16 runs slower than fp32 where its dot products are under 1.2x the fp32 FMAs' flops and there is
# no AMX running (Intel Xeons): `bench` reports the measured ratio. Reference mode never says so.
bench = subprocess.run([DEEPSLIDE, "bench", "--mode", "infer", "--batch", "1", "--size", "32", "--iters", "1",
                        "--warmup", "0"], capture_output=True, text=True)
check(bench.returncode == 0, f"bench for the CPU's bf16 figures: {bench.stderr[-400:]}")
cpu = json.loads(bench.stdout.strip().splitlines()[-1])["cpu"]
# Each process measures anew: a CPU near the bar could fall either side of it (none measured is).
BF16_SLOW = (all(HAS.values()) and cpu["bf16_kernels"] and not cpu["amx_bf16_kernels"] and
             cpu["bf16_dot_vs_fp32_fma"] < 1.2)
print(f"bf16 dot products at {cpu['bf16_dot_vs_fp32_fma']:.2f}x the fp32 FMAs' flops: "
      f"{'slower' if BF16_SLOW else 'not slower'} than fp32 here")

csv_path = f"{tmp}/p/{out_name(slide_rel)}.csv"
predict("fp32", f"{tmp}/p")
ref = rows(csv_path) if os.path.exists(csv_path) else []
check(len(ref) == 64, f"fp32: {len(ref)} windows, expected 64")
probs = [f"prob_{c}" for c in cls]
for precision in ("bf16", "int8"):
    p = predict(precision, f"{tmp}/p")
    check("the precision changed" in p.stdout + p.stderr, f"{precision}: the slide redone, saying why: {p.stdout[-400:]}")
    if precision == "bf16":  # asked for where it runs slower than fp32: a note says so, and only there
        noted = "fp32 is likely faster" in p.stderr
        check(noted == BF16_SLOW, f"bf16's slowness note {'missing' if BF16_SLOW else 'wrongly given'}: {p.stderr[-400:]}")
    meta = json.load(open(f"{tmp}/p/predict.json"))
    check(meta.get("precision") == precision, f"{precision}: predict.json precision {meta.get('precision')}")
    got = rows(csv_path)
    check([(r["x"], r["y"]) for r in got] == [(r["x"], r["y"]) for r in ref], f"{precision}: the same windows as fp32")
    diff = max((abs(float(a[k]) - float(b[k])) for a, b in zip(ref, got) for k in probs), default=1.0)
    check(diff <= BOUND[precision], f"{precision}: max |probability - fp32's| {diff:.4f} > {BOUND[precision]}")
    decided = [(a, b) for a, b in zip(ref, got) if abs(float(a[probs[0]]) - float(a[probs[1]])) > 2 * BOUND[precision]]
    flips = sum(a["prediction"] != b["prediction"] for a, b in decided)
    check(flips == 0, f"{precision}: {flips} of {len(decided)} clearly decided windows changed class")
    print(f"{precision}: max |probability difference| {diff:.4f}, {len(decided)} clearly decided windows, "
          f"{sum(a['prediction'] == b['prediction'] for a, b in zip(ref, got))} of {len(ref)} argmax equal to fp32's")
    p = predict(precision, f"{tmp}/p")
    check("up to date, skipped" in p.stdout + p.stderr, f"{precision}: a rerun at the same precision skips the slide")

    # The calibration's 16 windows are among these 64 (the same window flags): its record can be
    # no worse than what this run saw.
    rec = agreement.get(precision, {})
    check(0 < rec.get("max_abs_dp", -1) <= diff + 1e-6, f"{precision}: recorded max |dp| {rec.get('max_abs_dp')} "
          f"is not within (0, {diff:.6f}], this run's over all 64 windows")
    want_version = 2 if precision == "int8" else 1  # weights/precision_agreement.h's k*Arithmetic
    check(rec.get("arithmetic") == want_version, f"{precision}: recorded arithmetic {rec.get('arithmetic')}")
    if all(a["prediction"] == b["prediction"] for a, b in zip(ref, got)):
        check(rec.get("argmax_agreement") == 1, f"{precision}: recorded argmax agreement {rec.get('argmax_agreement')}")

# int8 on AVX-VNNI's 256-bit tiles (DEEPSLIDE_ISA=avx2, where the CPU has them): the convolutions
# equal the AVX512-VNNI tiles' bit for bit; the fp32 rest (pooling, classifier) runs its avx2
# kernels, so the probabilities agree to float rounding and every window keeps its class.
if "avx_vnni" in FLAGS and all(HAS.values()):
    int8_rows = rows(csv_path)
    out = f"{tmp}/p_avx_vnni"
    p = subprocess.run([DEEPSLIDE, "predict", "--model", calibrated, "--all-wsi", wsi, "--labels", f"{tmp}/labels.csv",
                        "--out", out, *W, "--precision", "int8"], capture_output=True, text=True,
                       env=dict(os.environ, DEEPSLIDE_ISA="avx2"))
    got = rows(f"{out}/{out_name(slide_rel)}.csv") if p.returncode == 0 else []
    diff = max((abs(float(a[k]) - float(b[k])) for a, b in zip(int8_rows, got) for k in probs), default=1.0)
    check(len(got) == len(int8_rows) and diff <= 1e-5 and
          all(a["prediction"] == b["prediction"] for a, b in zip(int8_rows, got)),
          f"int8 on AVX-VNNI: {len(got)} windows, max |probability - AVX512-VNNI's| {diff:.2e}: {p.stderr[-400:]}")
    print(f"int8 on AVX-VNNI (DEEPSLIDE_ISA=avx2): max |probability difference| from AVX512-VNNI's {diff:.1e}")

# --precision auto: with every kernel (or on the reference twins) the calibrated model's record
# meets the bar, so int8: the very key of the int8 run above, which is skipped.
p = predict("auto", f"{tmp}/p")
check("precision auto -> int8" in p.stderr and "up to date, skipped" in p.stdout + p.stderr,
      f"auto picks int8 and reuses the int8 CSV: {p.stderr[-600:]}")
check(json.load(open(f"{tmp}/p/predict.json")).get("precision") == "int8", "auto: predict.json holds int8")
# Without reference mode, on this CPU: int8 only with AVX512-VNNI or AVX-VNNI, bf16 with AVX512-BF16, else fp32.
native = subprocess.run([DEEPSLIDE, "predict", "--model", calibrated, "--all-wsi", wsi, "--labels", f"{tmp}/labels.csv",
                         "--out", f"{tmp}/auto_native", *W, "--precision", "auto"], capture_output=True, text=True)
want = "int8" if HAS["int8"] else "bf16" if HAS["bf16"] else "fp32"
check(native.returncode == 0 and f"precision auto -> {want}" in native.stderr,
      f"auto on this CPU's own kernels picks {want}: {native.stderr[-600:]}")
if want == "fp32":
    check("no AVX512-VNNI or AVX-VNNI kernels" in native.stderr and "no AVX512-BF16 kernels" in native.stderr,
          f"auto says which kernels are missing: {native.stderr[-600:]}")
# An uncalibrated model with no record: fp32, saying so.
p = ds(["predict", "--model", model, "--all-wsi", wsi, "--labels", f"{tmp}/labels.csv", "--out", f"{tmp}/auto_u", *W],
       "auto")
check("precision auto -> fp32" in p.stderr and
      ("no agreement recorded" in p.stderr or BF16_SLOW and "its fp32 FMAs' flops" in p.stderr),
      f"auto on a model without a record: {p.stderr[-600:]}")
print(f"auto: int8 with the record (reference mode), {want} on this CPU's kernels, fp32 without a record")

# diagnose: the precision in diagnosis.json and its key; another precision redoes the slide.
agg = {"method": "mean_probability", "classes": cls, "name": "made_for_the_test"}
json.dump(agg, open(f"{tmp}/agg.json", "w"))
bundle = f"{tmp}/b.safetensors"
subprocess.run([DEEPSLIDE, "bundle", "--model", calibrated, "--aggregator", f"{tmp}/agg.json", "--out", bundle,
                "--overlap", "1", "--level", "0", "--tissue", "none"], check=True, capture_output=True)
D = ["diagnose", "--bundle", bundle, "--out", f"{tmp}/d", slide, "--threads", "2", "--batch-size", "16", "--quiet"]
record = f"{tmp}/d/{os.path.splitext(os.path.basename(slide))[0]}/diagnosis.json"
for precision, why in (("int8", "diagnosed"), ("fp32", "the precision changed"), ("bf16", "the precision changed")):
    p = ds(D, precision)
    check(why in p.stderr, f"diagnose {precision}: says '{why}': {p.stderr[-400:]}")
    rec = json.load(open(record)) if os.path.exists(record) else {}
    check(rec.get("precision") == precision and rec.get("key", {}).get("precision") == precision,
          f"diagnose {precision}: diagnosis.json precision {rec.get('precision')}, key {rec.get('key')}")
p = ds(D, "bf16")
check("skipped" in p.stderr, f"diagnose bf16 again: skipped: {p.stderr[-400:]}")

# Refusals, one line each.
p = ds(["predict", "--model", model, "--all-wsi", wsi, "--labels", f"{tmp}/labels.csv", "--out", f"{tmp}/u", *W],
       "int8", expect=2)
line = error_line(p)
check(model in line and "deepslide calibrate" in line, f"int8 on an uncalibrated model: {line}")
for precision, ext in (("bf16", "AVX512-BF16"), ("int8", "AVX-VNNI")):
    # Capping the ISA at avx2 takes bf16's kernels away on any CPU, at scalar int8's.
    p = subprocess.run([DEEPSLIDE, *D, "--precision", precision], capture_output=True, text=True,
                       env=dict(os.environ, DEEPSLIDE_ISA="avx2" if precision == "bf16" else "scalar"))
    line = error_line(p)
    check(p.returncode == 2 and "--precision" in line and ext in line, f"{precision} without {ext}: {line}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
