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

With --layers, per convolution instead: `deepslide bench --layers --peak` (each convolution's
median time inside the network, the default per-layer algorithm choice) against ONNX Runtime's
profiler (enableProfiling: every node's kernel time in every run, the timed runs' median), the
layers matched by their block and shape, both rates against the FMA peak our bench measured in
the same round; one row per layer, then the sums by kind (1x1, strided, 3x3 stride 1, stem). The
stem's row holds its max pool on both sides (ours runs it inside conv1, ONNX Runtime as a node of
its own); its rate counts the convolution's flops only.

  /usr/bin/python3 bench/compare_ort.py --deepslide build/deepslide --arch resnet18 --batch 16 \\
      --size 224 --threads 2 --iters 5 --warmup 2 --rounds 3
"""
import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

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


def run_ours(a, winograd, extra=()):
    os.environ["DEEPSLIDE_WINOGRAD"] = winograd  # compare_pytorch.run_ours passes the environment on
    return compare_pytorch.run_ours(a, "infer", "fp32", extra)


def run_ort(a, model, profile=None):
    p = subprocess.run(["node", os.path.join(HERE, "ort_worker.js"), a.cache, model, str(a.batch), str(a.size),
                        str(a.threads), str(a.warmup), str(a.iters)] + ([profile] if profile else []),
                       capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(a.threads)})
    if p.returncode != 0:
        sys.exit(f"ONNX Runtime worker failed (exit {p.returncode}): {p.stderr.strip()[-800:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def ort_conv_times(trace, iters):
    """The Conv nodes of an ONNX Runtime profile in run order: block ("layer1.0", "" for the stem),
    weight shape [OC, C, KH, KW], output shape, stride, gflop and the median kernel time of the
    last `iters` runs (the timed ones) in ms."""
    with open(trace) as f:
        events = json.load(f)
    runs = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time") or \
                e["args"].get("op_name") not in ("Conv", "FusedConv", "MaxPool"):
            continue
        runs.setdefault(e["name"], {"args": e["args"], "us": []})["us"].append(e["dur"])
    convs = []
    for name, r in runs.items():  # dicts keep the first run's order
        if len(r["us"]) < iters:
            sys.exit(f"--layers: {trace}: node {name} ran {len(r['us'])} times, fewer than the {iters} timed runs")
        ms = statistics.median(r["us"][-iters:]) / 1000
        if r["args"]["op_name"] == "MaxPool":  # the stem's, which ours fuses into conv1: counted with it
            if convs and convs[-1]["w"][1] == 3:
                convs[-1]["ms"] += ms
                convs[-1]["pool"] = True
            continue
        shapes = [next(iter(t.values())) for t in r["args"]["input_type_shape"]]
        x, w = shapes[0], shapes[1]
        y = next(iter(r["args"]["output_type_shape"][0].values()))
        m = re.search(r"/(layer\d+\.\d+)/", name)
        convs.append({"node": name, "block": m.group(1) if m else "", "w": w, "x": x, "y": y,
                      "stride": round(x[2] / y[2]) if y[2] else 1,
                      "gflop": 2e-9 * y[0] * y[2] * y[3] * w[0] * w[1] * w[2] * w[3], "ms": ms, "pool": False})
    return convs


def match_layers(ours, ort):
    """Pairs each of our convolution passes (bench --layers' entries) with ONNX Runtime's node of the
    same block and shape (channels in and out, kernel, output size: a block's conv1 and downsample
    can have equal flops), the first unused one in run order (same-shaped ones cost the same).
    Exits naming any left unmatched."""
    used, pairs = set(), []
    for o in ours:
        block = ".".join(o["layer"].split(".")[:2]) if o["layer"].startswith("layer") else ""
        shape = [o["oc"], o["c"], o["k"], o["k"]]
        for i, c in enumerate(ort):
            if i not in used and c["block"] == block and c["w"] == shape and c["y"][2:] == [o["out_h"], o["out_w"]]:
                used.add(i)
                pairs.append((o, c))
                break
        else:
            sys.exit(f"--layers: no ONNX Runtime Conv node matches {o['layer']} ({o['c']}->{o['oc']} "
                     f"{o['k']}x{o['k']}, {o['out_h']}x{o['out_w']})")
    return pairs


def kind(c):
    k, s = c["w"][2], c["stride"]
    if c["w"][1] == 3:
        return "stem"
    if k == 1:
        return "1x1" if s == 1 else "1x1 stride 2"
    return "3x3" if s == 1 else "3x3 stride 2"


def compare_layers(a, model):
    """--layers: our per-layer times (auto algorithm choice) and ONNX Runtime's, alternating rounds."""
    ours_rounds, ort_rounds, peaks = [], [], []
    isa = ort_version = None
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            o = run_ours(a, "auto", ["--layers", "--peak"])
            isa = o["isa"]
            ours_rounds.append(o["layers"])
            peaks.append(o["fma_peak_gflops"])
            prefix = os.path.join(tmp, f"round{r}")
            t = run_ort(a, model, prefix)
            ort_version = t["ort"]
            traces = glob.glob(prefix + "*.json")
            if len(traces) != 1:
                sys.exit(f"--layers: expected one ONNX Runtime profile {prefix}*.json, found {len(traces)}")
            ort_rounds.append(ort_conv_times(traces[0], a.iters))
            compare_pytorch.log(f"round {r + 1}/{a.rounds}: deepslide convolutions {o['layers_ms']:.1f} ms, "
                                f"ONNX Runtime {sum(c['ms'] for c in ort_rounds[-1]):.1f} ms")
    peak = statistics.median(peaks)
    rows = []
    pairs = match_layers(ours_rounds[0], ort_rounds[0])
    if not pairs[0][1]["pool"]:
        compare_pytorch.log("--layers: warning: no MaxPool node after ONNX Runtime's stem: its row compares our "
                            "conv1 with its pool against ONNX Runtime's conv1 alone")
    for i, (o, c) in enumerate(pairs):
        j = ort_rounds[0].index(c)
        ours_ms = statistics.median(rnd[i]["ms"] for rnd in ours_rounds)
        ort_ms = statistics.median(rnd[j]["ms"] for rnd in ort_rounds)
        rows.append({"layer": o["layer"], "algo": o["algo"], "kind": kind(c),
                     "shape": f"{c['w'][1]}->{c['w'][0]} {c['w'][2]}x{c['w'][3]}/{c['stride']}, {c['y'][2]}x{c['y'][3]}"
                              + (" + max pool" if c["pool"] else ""),
                     "gflop": o["gflop"], "ours_ms": ours_ms, "ort_ms": ort_ms,
                     "ours_peak_pct": 100 * o["gflop"] / (ours_ms * 1e-3) / peak,
                     "ort_peak_pct": 100 * o["gflop"] / (ort_ms * 1e-3) / peak})
    return {"arch": a.arch, "batch": a.batch, "size": a.size, "threads": a.threads, "iters": a.iters,
            "warmup": a.warmup, "rounds": a.rounds, "isa": isa, "ort": ort_version, "fma_peak_gflops": peak,
            "layers": rows}


def print_layers(res):
    print(f"\n{res['arch']}, batch {res['batch']}, {res['size']}x{res['size']}, fp32 inference, {res['threads']} threads, "
          f"{res['rounds']} rounds of {res['warmup']} warmup + {res['iters']} timed steps; per-layer medians; deepslide "
          f"ISA {res['isa']} (auto algorithm choice), ONNX Runtime {res['ort']} (its profiler); % of the FMA peak "
          f"{res['fma_peak_gflops']:.0f} GFLOP/s\n")
    print("| layer | shape (C->OC k/stride, out) | ours | ours ms | ORT ms | ours % peak | ORT % peak | ORT / ours time |")
    print("|---|---|---|---|---|---|---|---|")
    for r in res["layers"]:
        print(f"| {r['layer']} | {r['shape']} | {r['algo']} | {r['ours_ms']:.2f} | {r['ort_ms']:.2f} | "
              f"{r['ours_peak_pct']:.1f} | {r['ort_peak_pct']:.1f} | {r['ort_ms'] / r['ours_ms']:.3f}x |")
    print("\n| kind | layers | GFLOP | ours ms | ORT ms | ours % peak | ORT % peak | ORT / ours time |")
    print("|---|---|---|---|---|---|---|---|")
    kinds = ["stem", "1x1", "1x1 stride 2", "3x3", "3x3 stride 2", "all"]
    for k in kinds:
        rs = [r for r in res["layers"] if k == "all" or r["kind"] == k]
        if not rs:
            continue
        g, om, tm = sum(r["gflop"] for r in rs), sum(r["ours_ms"] for r in rs), sum(r["ort_ms"] for r in rs)
        pk = res["fma_peak_gflops"]
        print(f"| {k} | {len(rs)} | {g:.2f} | {om:.1f} | {tm:.1f} | {100 * g / (om * 1e-3) / pk:.1f} | "
              f"{100 * g / (tm * 1e-3) / pk:.1f} | {tm / om:.3f}x |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    compare_pytorch.add_model_args(ap)
    ap.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "deepslide", "ort"))
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--layers", action="store_true", help="per convolution, from ONNX Runtime's profiler (no PyTorch)")
    a = ap.parse_args()
    compare_pytorch.check_model_args(ap, a)
    install_ort(a.cache)
    model = export_onnx(a)
    if a.layers:
        res = compare_layers(a, model)
        if a.json:
            print(json.dumps(res))
        else:
            print_layers(res)
        return
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
