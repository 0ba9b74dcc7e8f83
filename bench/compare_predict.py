#!/usr/bin/python3
"""Whole-slide prediction against the bare network, per precision (issue 20's end-to-end target:
`predict` at >= 90% of `deepslide bench --mode infer`'s images/s at the same precision and patch
size). A synthetic slide (`deepslide synth`), an untrained ResNet-18 (speed does not depend on the
weights; int8 calibrated on the slide first), then per round and precision, alternating:
`deepslide predict --tissue none --force` on the slide (windows / the slide's wall seconds from
predict.json: tissue scan, reading, network and CSV all counted) and `deepslide bench --mode
infer` at the same batch and patch size (`--bench-iters` batches: 60 run about as long as a
quarter of the prediction, so a fast phase of the VM does not carry the bench side alone). Prints
each precision's medians, their ratio, and the median of the rounds' own ratios.
Precisions this CPU has no kernels for are left out, and the script says so.

  /usr/bin/python3 bench/compare_predict.py --deepslide build/deepslide --rounds 5
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--deepslide", default="build/deepslide")
ap.add_argument("--patch", type=int, default=224)
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--side", type=int, default=6000, help="slide width and height in pixels")
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--bench-iters", type=int, default=60, help="bench's timed batches per round")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--readers", default="auto", help="predict's --readers")
ap.add_argument("--precisions", default="fp32,bf16,int8")
ap.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "ds_compare_predict"))
a = ap.parse_args()

with open("/proc/cpuinfo") as f:
    FLAGS = next((line.split() for line in f if line.startswith("flags")), [])
NEEDS = {"bf16": "avx512_bf16", "int8": "avx512_vnni"}
precisions = []
for p in a.precisions.split(","):
    if p in NEEDS and NEEDS[p] not in FLAGS:
        print(f"not run: {p} (this CPU lacks {NEEDS[p]})")
    else:
        precisions.append(p)


def ds(*args, **kw):
    return subprocess.run([a.deepslide, *map(str, args)], check=True, capture_output=True, text=True, **kw)


wsi = f"{a.data}/wsi_{a.side}"
if not os.path.isdir(wsi):
    ds("synth", "--out", wsi, "--classes", "2", "--slides-per-class", "1", "--width", a.side, "--height", a.side,
       "--seed", "3")
cls = sorted(os.listdir(wsi))
img = f"{cls[0]}/{sorted(os.listdir(f'{wsi}/{cls[0]}'))[0]}"
labels = f"{a.data}/labels.csv"
with open(labels, "w") as f:
    f.write(f"img,gt\n{img},{cls[0]}\n")
model = f"{a.data}/m{a.patch}.safetensors"
ds("init-model", "--arch", "resnet18", "--classes", ",".join(cls), "--patch-size", a.patch, "--out", model)
if "int8" in precisions:
    ds("calibrate", "--model", model, "--out", model, "--patch-size", a.patch, "--tissue", "none",
       "--agreement-windows", "0", f"{wsi}/{img}")

rates = {p: {"predict": [], "bench": []} for p in precisions}
for r in range(a.rounds):
    for p in precisions:
        out = f"{a.data}/out_{p}"
        ds("--threads", a.threads, "predict", "--model", model, "--all-wsi", wsi, "--labels", labels, "--out", out,
           "--patch-size", a.patch, "--tissue", "none", "--overlap", "1", "--batch-size", a.batch, "--precision", p,
           "--readers", a.readers, "--force", "--quiet")
        entry = next(iter(json.load(open(f"{out}/predict.json"))["slides"].values()))
        rates[p]["predict"].append(entry["windows"] / entry["seconds"])
        j = json.loads(ds("--threads", a.threads, "bench", "--mode", "infer", "--arch", "resnet18", "--batch", a.batch,
                          "--size", a.patch, "--precision", p, "--iters", a.bench_iters, "--warmup", 2).stdout.splitlines()[0])
        rates[p]["bench"].append(j["images_per_sec"])
        print(f"round {r + 1} {p}: predict {rates[p]['predict'][-1]:.1f} windows/s ({entry['windows']} windows, "
              f"net {entry['net_seconds']:.2f} s of {entry['seconds']:.2f} s), bench {j['images_per_sec']:.1f} img/s",
              flush=True)

# Both ratios: of the medians, and the median of each round's predict / bench (the pair that ran
# back to back, so saw the same phase of the machine's speed).
print(f"\n{'precision':10} {'predict windows/s':>18} {'bench img/s':>12} {'ratio':>7} {'median of rounds':>17}")
for p in precisions:
    pm, bm = statistics.median(rates[p]["predict"]), statistics.median(rates[p]["bench"])
    per_round = statistics.median(x / y for x, y in zip(rates[p]["predict"], rates[p]["bench"]))
    print(f"{p:10} {pm:18.1f} {bm:12.1f} {pm / bm:7.3f} {per_round:17.3f}")
