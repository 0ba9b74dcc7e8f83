#!/usr/bin/python3
"""Training throughput of `deepslide train` (slides mode: windows read from synthetic slides,
augmented and normalized by the loader threads) against the training step alone on an in-memory
batch (`deepslide bench --mode train`), in alternating rounds so both see the same machine load.
Prints the medians, their ratio and the share of step time `deepslide train` spent waiting for
data.

  /usr/bin/python3 bench/train_throughput.py --deepslide build/deepslide \
      --patch 224 --batch 16 --steps 4 --rounds 3
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--deepslide", default="build/deepslide")
ap.add_argument("--patch", type=int, default=224)
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--steps", type=int, default=4)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--workers", type=int, default=2)
ap.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "ds_train_throughput"))
a = ap.parse_args()

wsi, labels = f"{a.data}/wsi", f"{a.data}/labels"
if not os.path.isdir(labels):
    subprocess.run([a.deepslide, "synth", "--out", wsi, "--classes", "2", "--slides-per-class", "2",
                    "--width", "2400", "--height", "1800", "--seed", "4"], check=True, capture_output=True)
    subprocess.run([a.deepslide, "split", "--all-wsi", wsi, "--out", labels, "--val-per-class", "1",
                    "--test-per-class", "0"], check=True, capture_output=True)

train_rates, step_rates, waits = [], [], []
for r in range(a.rounds):
    out = tempfile.mkdtemp(prefix="ds_tt_")
    p = subprocess.run([a.deepslide, "train", "--all-wsi", wsi, "--labels-train", f"{labels}/labels_train.csv",
                        "--labels-val", f"{labels}/labels_val.csv", "--patch-size", str(a.patch),
                        "--batch-size", str(a.batch), "--num-train-per-class", str(8 * a.batch),
                        "--threads", str(a.threads), "--workers", str(a.workers), "--max-steps", str(a.steps),
                        "--checkpoint-minutes", "0", "--out", out], check=True, capture_output=True, text=True)
    m = re.search(r"([\d.]+) img/s, data wait ([\d.]+)%", p.stdout)
    train_rates.append(float(m.group(1)))
    waits.append(float(m.group(2)))
    subprocess.run(["rm", "-rf", out])
    b = subprocess.run([a.deepslide, "bench", "--arch", "resnet18", "--mode", "train", "--batch", str(a.batch),
                        "--size", str(a.patch), "--threads", str(a.threads), "--iters", str(a.steps),
                        "--warmup", "1"], check=True, capture_output=True, text=True)
    step_rates.append(json.loads(b.stdout)["images_per_sec"])
    print(f"round {r + 1}: train {train_rates[-1]:.2f} img/s (data wait {waits[-1]:.1f}%), "
          f"step alone {step_rates[-1]:.2f} img/s", flush=True)

t, s = statistics.median(train_rates), statistics.median(step_rates)
print(f"median: deepslide train {t:.2f} img/s, step alone {s:.2f} img/s, ratio {t / s:.3f}, "
      f"data wait {statistics.median(waits):.1f}% of step time")
