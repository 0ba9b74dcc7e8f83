#!/usr/bin/python3
"""Whole-model fp32 inference throughput: `deepslide bench --mode infer` (direct convolutions only,
DEEPSLIDE_WINOGRAD=0, and with the per-layer Winograd choice, the default) against ONNX Runtime
(npm onnxruntime-node: the CPU execution provider, graph optimisation "all", MLAS kernels) and
PyTorch (Debian python3-torch, channels_last, via bench/compare_pytorch.py's worker) on the same
torchvision architecture, batch, input size and thread count, in alternating rounds (each
measurement a fresh process) so all see the same machine load; medians per side.

First run: installs onnxruntime-node into --cache (default ~/.cache/deepslide/ort) with
`npm install --ignore-scripts` (the CPU binaries ship in the package; the skipped install script
only fetches optional CUDA parts), and exports the architecture (random weights, eval mode) to
ONNX there with torch.onnx (opset 13, fixed batch). Later runs reuse both.

Prints a Markdown table for BENCHMARKS.md (progress on stderr), or with --json one JSON object.

  /usr/bin/python3 bench/compare_ort.py --deepslide build/deepslide --arch resnet18 --batch 16 \\
      --size 224 --threads 2 --iters 5 --warmup 2 --rounds 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare_pytorch  # noqa: E402  (its PyTorch worker, run in a fresh process per measurement)


def install_ort(cache):
    if os.path.isfile(os.path.join(cache, "node_modules", "onnxruntime-node", "package.json")):
        return
    os.makedirs(cache, exist_ok=True)
    compare_pytorch.log(f"installing onnxruntime-node into {cache} (npm install --ignore-scripts)")
    subprocess.run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", cache,
                    "onnxruntime-node"], check=True, stdout=sys.stderr)


EXPORT = """
import sys, torch, torchvision
arch, classes, batch, size, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.manual_seed(0)
model = getattr(torchvision.models, arch)(num_classes=classes).eval()
torch.onnx.export(model, torch.randn(batch, 3, size, size), path, opset_version=13, input_names=["input"],
                  output_names=["logits"], do_constant_folding=True)
"""


def export_onnx(a):
    path = os.path.join(a.cache, f"{a.arch}_c{a.classes}_b{a.batch}_s{a.size}.onnx")
    if not os.path.isfile(path):
        compare_pytorch.log(f"exporting {a.arch} to {path}")
        tmp = path + ".tmp"
        subprocess.run([sys.executable, "-c", EXPORT, a.arch, str(a.classes), str(a.batch), str(a.size), tmp],
                       check=True, stdout=sys.stderr)
        os.replace(tmp, path)
    return path


def run_ours(a, winograd):
    os.environ["DEEPSLIDE_WINOGRAD"] = winograd  # compare_pytorch.run_ours passes the environment on
    return compare_pytorch.run_ours(a, "infer", "fp32")


def run_ort(a, model):
    p = subprocess.run(["node", os.path.join(HERE, "ort_worker.js"), a.cache, model, str(a.batch), str(a.size),
                        str(a.threads), str(a.warmup), str(a.iters)],
                       capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(a.threads)})
    if p.returncode != 0:
        sys.exit(f"ONNX Runtime worker failed (exit {p.returncode}): {p.stderr.strip()[-800:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    compare_pytorch.add_model_args(ap)
    ap.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "deepslide", "ort"))
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    a = ap.parse_args()
    compare_pytorch.check_model_args(ap, a)
    install_ort(a.cache)
    model = export_onnx(a)
    # compare_pytorch's worker reads these fields.
    ta = argparse.Namespace(**vars(a), mode="infer", precision="fp32")
    sides = {"deepslide direct": [], "deepslide auto": [], "ONNX Runtime": []}
    if not a.no_torch:
        sides["PyTorch channels_last"] = []
    isa = ort_version = torch_version = None
    for r in range(a.rounds):  # alternate so every side sees the same load
        for side in sides:
            if side == "deepslide direct" or side == "deepslide auto":
                o = run_ours(a, "0" if side == "deepslide direct" else "auto")
                isa = o["isa"]
            elif side == "ONNX Runtime":
                o = run_ort(a, model)
                ort_version = o["ort"]
            else:
                o = compare_pytorch.run_torch(ta, "infer", "channels_last", "fp32")
                torch_version = o["torch"]
            sides[side].append(o["images_per_sec"])
            compare_pytorch.log(f"round {r + 1}/{a.rounds}: {side} {o['images_per_sec']:.2f} img/s ({o['ms_per_batch']:.1f} ms/batch)")
    med = {s: statistics.median(v) for s, v in sides.items()}
    summary = {"arch": a.arch, "batch": a.batch, "size": a.size, "threads": a.threads, "iters": a.iters,
               "warmup": a.warmup, "rounds": a.rounds, "isa": isa, "ort": ort_version, "torch": torch_version,
               "images_per_sec": sides, "median": med,
               "auto_over_ort": med["deepslide auto"] / med["ONNX Runtime"],
               "direct_over_ort": med["deepslide direct"] / med["ONNX Runtime"]}
    if a.json:
        print(json.dumps(summary))
        return
    print(f"\n{a.arch}, batch {a.batch}, {a.size}x{a.size}, fp32 inference, {a.threads} threads, {a.rounds} rounds "
          f"of {a.warmup} warmup + {a.iters} timed steps; deepslide ISA {isa}, ONNX Runtime {ort_version}"
          + (f", PyTorch {torch_version}" if torch_version else "") + "\n")
    print("| side | img/s (median) | rounds | / ONNX Runtime |")
    print("|---|---|---|---|")
    for s, v in sides.items():
        print(f"| {s} | {med[s]:.2f} | {', '.join(f'{x:.1f}' for x in v)} | {med[s] / med['ONNX Runtime']:.3f}x |")


if __name__ == "__main__":
    main()
