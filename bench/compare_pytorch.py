#!/usr/bin/python3
"""Whole-model throughput: `deepslide bench` against PyTorch (Debian python3-torch, oneDNN) on the
same architecture, batch, input size and thread count, in alternating rounds so both see the same
machine load. Each PyTorch measurement runs in a fresh subprocess (this script with --torch-worker)
so its peak RSS (VmHWM) is its own; ours comes from `deepslide bench`'s JSON line.

What is timed, per side: `--warmup` untimed steps, then `--iters` timed ones; the median step time
gives images/s. Both sides use random normal input and random labels, 2 classes by default.
  train: model.train(), Adam(lr 1e-3, weight_decay 1e-4), CrossEntropyLoss; one step is
         zero_grad, forward, loss, backward, optimizer step (ours: train/train_step, the step
         `deepslide train` takes).
  infer: model.eval() under torch.inference_mode(), forward + softmax (ours: predict_probabilities,
         the call `deepslide predict` makes).
PyTorch's layout: channels_last (model and input, its fastest configuration on CPU, the one
docs/design.md's targets refer to), nchw (its default), or both.
--precision (infer only): fp32, bf16 (ours `deepslide bench --precision bf16`, PyTorch's forward
under torch.autocast("cpu", dtype=torch.bfloat16)), int8 (ours `--precision int8`; PyTorch's
eager post-training static quantization: torchvision.models.quantization's resnet, fused,
calibrated on the same input batch, converted for the quantized engine `onednn`, the one x86
engine the Debian build ships besides qnnpack, no fbgemm), both (fp32 and bf16) or all (fp32,
bf16, int8): one row per precision and layout. Every round measures every mode and precision in
turn, so all see the same machine load. Training is always fp32.

Prints a Markdown table for BENCHMARKS.md (progress on stderr), or with --json one JSON object.

  /usr/bin/python3 bench/compare_pytorch.py --deepslide build/deepslide --arch resnet18 \\
      --mode both --batch 16 --size 224 --threads 2 --iters 5 --warmup 2 --rounds 3
  /usr/bin/python3 bench/compare_pytorch.py --mode infer --precision all --threads 2
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def vm_hwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def torch_worker(a):
    """One PyTorch measurement in this (fresh) process; prints one JSON line."""
    import torch
    import torchvision

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = getattr(torchvision.models, a.arch)(num_classes=a.classes)
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.randint(0, a.classes, (a.batch,))
    if a.torch_layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if a.mode == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()
    else:
        model.eval()

        bf16 = a.precision == "bf16"
        if a.precision == "int8":
            model = int8_model(a, x)

        def step():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return torch.softmax(model(x).float(), dim=1)[0, 0].item()

    ms = []
    for i in range(a.warmup + a.iters):
        t0 = time.perf_counter()
        step()
        dt = (time.perf_counter() - t0) * 1000.0
        if i >= a.warmup:
            ms.append(dt)
    med = statistics.median(ms)
    print(json.dumps({"images_per_sec": 1000.0 * a.batch / med, "ms_per_batch": med, "ms_min": min(ms),
                      "peak_rss_mb": vm_hwm_mb(), "torch": torch.__version__,
                      "mkldnn": torch.backends.mkldnn.is_available()}))


def quantize_int8(m, x):
    """A torchvision.models.quantization network in eval mode, fused (conv + BN + ReLU), observed
    on x and converted to int8 for the onednn engine (per-channel weights, per-tensor activations:
    onednn's default qconfig). Also used by tests/test_int8_torch_oracle.py."""
    import torch

    torch.backends.quantized.engine = "onednn"
    m.eval()
    m.fuse_model()
    m.qconfig = torch.ao.quantization.get_default_qconfig("onednn")
    torch.ao.quantization.prepare(m, inplace=True)
    with torch.inference_mode():
        m(x)
    torch.ao.quantization.convert(m, inplace=True)
    return m


def int8_model(a, x):
    """torchvision's quantizable ResNet with the seeded weights, quantized on x."""
    import torch
    from torchvision.models import quantization

    torch.manual_seed(a.seed)
    return quantize_int8(getattr(quantization, a.arch)(num_classes=a.classes, quantize=False), x)


def env_for(threads):
    return {**os.environ, "OMP_NUM_THREADS": str(threads)}


def run_ours(a, mode, precision, extra=()):
    p = subprocess.run([a.deepslide, "bench", "--arch", a.arch, "--mode", mode, "--precision", precision,
                        "--batch", str(a.batch),
                        "--size", str(a.size), "--threads", str(a.threads), "--iters", str(a.iters),
                        "--warmup", str(a.warmup), "--classes", str(a.classes), "--seed", str(a.seed), *extra],
                       capture_output=True, text=True, env=env_for(a.threads))
    if p.returncode != 0:
        sys.exit(f"deepslide bench failed (exit {p.returncode}): {p.stderr.strip()[-800:]}")
    return json.loads(p.stdout)


def run_torch(a, mode, layout, precision):
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-worker", "--arch", a.arch,
                        "--mode", mode, "--precision", precision, "--batch", str(a.batch), "--size", str(a.size), "--threads",
                        str(a.threads), "--iters", str(a.iters), "--warmup", str(a.warmup), "--classes",
                        str(a.classes), "--seed", str(a.seed), "--torch-layout", layout],
                       capture_output=True, text=True, env=env_for(a.threads))
    if p.returncode != 0:
        sys.exit(f"PyTorch worker failed (exit {p.returncode}): {p.stderr.strip()[-800:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def add_model_args(ap):
    """The model and timing flags this script shares with bench/compare_ort.py."""
    ap.add_argument("--deepslide", default="build/deepslide")
    ap.add_argument("--arch", default="resnet18", choices=["resnet18", "resnet34", "resnet50"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)


def check_model_args(ap, a):
    for name in ["batch", "size", "threads", "iters", "rounds"]:
        if getattr(a, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if a.warmup < 0:
        ap.error("--warmup must be >= 0")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_args(ap)
    ap.add_argument("--mode", default="both", choices=["train", "infer", "both"])
    ap.add_argument("--torch-layout", default="channels_last", choices=["channels_last", "nchw", "both"])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "int8", "both", "all"],
                    help="infer mode's arithmetic on both sides (train is always fp32)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    check_model_args(ap, a)
    if a.torch_worker:
        torch_worker(a)
        return

    precisions = {"both": ["fp32", "bf16"], "all": ["fp32", "bf16", "int8"]}.get(a.precision, [a.precision])
    modes = [("train", "fp32")] if a.mode in ("train", "both") else []
    if a.mode in ("infer", "both"):
        modes += [("infer", p) for p in precisions]
    layouts = ["channels_last", "nchw"] if a.torch_layout == "both" else [a.torch_layout]
    results = []
    isa = torch_version = None
    ours = {m: [] for m in modes}
    theirs = {m: {l: [] for l in layouts} for m in modes}
    for r in range(a.rounds):  # every mode and precision in each round, so all see the same load
        for mode, precision in modes:
            o = run_ours(a, mode, precision)
            isa = o["isa"]
            ours[(mode, precision)].append(o)
            log(f"{mode} {precision} round {r + 1}/{a.rounds}: deepslide {o['images_per_sec']:.2f} img/s "
                f"({o['ms_per_batch']:.0f} ms/batch, peak RSS {o['peak_rss_mb']:.0f} MB)")
            for l in layouts:
                t = run_torch(a, mode, l, precision)
                torch_version = t["torch"]
                theirs[(mode, precision)][l].append(t)
                log(f"{mode} {precision} round {r + 1}/{a.rounds}: PyTorch {l} {t['images_per_sec']:.2f} img/s "
                    f"({t['ms_per_batch']:.0f} ms/batch, peak RSS {t['peak_rss_mb']:.0f} MB)")
    for mode, precision in modes:
        ours_ips = [o["images_per_sec"] for o in ours[(mode, precision)]]
        entry = {"mode": mode, "precision": precision, "deepslide_images_per_sec": ours_ips,
                 "deepslide_median": statistics.median(ours_ips),
                 "deepslide_peak_rss_mb": max(o["peak_rss_mb"] for o in ours[(mode, precision)]), "pytorch": {}}
        for l in layouts:
            ts = theirs[(mode, precision)][l]
            ips = [t["images_per_sec"] for t in ts]
            med = statistics.median(ips)
            entry["pytorch"][l] = {"images_per_sec": ips, "median": med,
                                   "peak_rss_mb": max(t["peak_rss_mb"] for t in ts),
                                   "ratio_ours_over_pytorch": entry["deepslide_median"] / med}
        results.append(entry)

    summary = {"arch": a.arch, "batch": a.batch, "size": a.size, "threads": a.threads, "iters": a.iters,
               "warmup": a.warmup, "rounds": a.rounds, "classes": a.classes, "isa": isa, "torch": torch_version,
               "results": results}
    if a.json:
        print(json.dumps(summary))
        return
    print(f"\n{a.arch}, batch {a.batch}, {a.size}x{a.size}, {a.threads} threads, {a.rounds} rounds of "
          f"{a.warmup} warmup + {a.iters} timed steps; deepslide ISA {isa}, PyTorch {torch_version}\n")
    print("| mode | precision | deepslide img/s | PyTorch layout | PyTorch img/s | ours / PyTorch | deepslide peak RSS MB |"
          " PyTorch peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for e in results:
        for l, t in e["pytorch"].items():
            print(f"| {e['mode']} | {e['precision']} | {e['deepslide_median']:.2f} | {l} | {t['median']:.2f} | "
                  f"{t['ratio_ours_over_pytorch']:.3f}x | {e['deepslide_peak_rss_mb']:.0f} | {t['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
