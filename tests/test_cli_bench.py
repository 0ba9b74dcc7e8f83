#!/usr/bin/python3
"""`deepslide bench` from the outside: one JSON line on stdout with the documented fields and sane
values for --mode train and infer (ResNet-18 on a 2 x 32 x 32 batch, a few seconds), a training step
in reference mode (DEEPSLIDE_ISA=ref) reporting isa "ref", and bad flags giving exit 2 with one error
line (also a batch and size needing more memory than the machine has); --precision bf16 in infer mode where the CPU has AVX512-BF16 (refused with exit 2 where it
has not, and always for train mode), int8 likewise with AVX512-VNNI or AVX-VNNI, and their peak RSS at batch 16,
224 px no higher than fp32's; the caches and the blocking source (tests/test_cli_tune.py
tests them further); --conv-algo and DEEPSLIDE_WINOGRAD: which algorithm each convolution ran (the
conv_algos field, in infer and in train mode), and bad values; the convolutions' flops per image
against torchvision's (forward hooks) and, with --peak, their rate against the measured FMA peak; with --layers
each pass's time and rate. Run by ctest with /usr/bin/python3; env DEEPSLIDE is the binary."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import DEEPSLIDE, check, failures, run  # noqa: E402

FIELDS = {"arch": str, "mode": str, "precision": str, "batch": int, "size": int, "threads": int, "isa": str,
          "iters": int, "images_per_sec": float, "ms_per_batch": float, "ms_min": float, "peak_rss_mb": float,
          "conv_gflop_per_image": float, "conv_gflops": float, "fma_peak_gflops": float, "peak_pct": float,
          "ranks": int, "allreduce_ms": float, "allreduce_share": float, "conv_algo": str, "conv_algos": dict,
          "grad_bucket_mb": float, "grad_buckets": int, "grad_buckets_in_backward": int, "cpu": dict, "caches": dict, "tuning": str,
          "file": str, "classes": int}
CPU_FIELDS = ["avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile", "amx_os_enabled", "bf16_kernels",
              "bf16_dot_vs_fp32_fma", "int8_dot_vs_fp32_fma",
              "amx_bf16_kernels", "amx_int8_kernels", "vnni_kernels", "int8_tiles"]
with open("/proc/cpuinfo") as f:
    FLAGS = next((l.split() for l in f if l.startswith("flags")), [])
HAS_BF16 = "avx512_bf16" in FLAGS
HAS_VNNI = "avx512_vnni" in FLAGS or "avx_vnni" in FLAGS

for mode in ["train", "infer"]:
    p = run(["bench", "--arch", "resnet18", "--mode", mode, "--batch", "2", "--size", "32", "--iters", "2",
             "--warmup", "1", "--threads", "2"])
    if p.returncode != 0:
        continue
    lines = p.stdout.splitlines()
    check(len(lines) == 1, f"{mode}: stdout is one line: {p.stdout!r}")
    try:
        j = json.loads(lines[0])
    except (ValueError, IndexError) as e:
        check(False, f"{mode}: stdout is JSON ({e}): {p.stdout!r}")
        continue
    check(list(j) == list(FIELDS), f"{mode}: fields {list(j)}")
    for k, t in FIELDS.items():
        # JSON numbers: a float field may print as an integer-valued number only if it is one
        ok = isinstance(j.get(k), t) or (t is float and isinstance(j.get(k), int))
        check(ok, f"{mode}: {k} is {t.__name__}: {j.get(k)!r}")
    if all(isinstance(j.get(k), (int, float)) for k in ["images_per_sec", "ms_per_batch", "ms_min", "peak_rss_mb"]):
        check(j["images_per_sec"] > 0, f"{mode}: images_per_sec > 0")
        check(j["peak_rss_mb"] > 0, f"{mode}: peak_rss_mb > 0")
        check(0 < j["ms_min"] <= j["ms_per_batch"], f"{mode}: 0 < ms_min <= ms_per_batch")
        check(abs(j["images_per_sec"] - 2000.0 / j["ms_per_batch"]) < 1e-6 * j["images_per_sec"],
              f"{mode}: images_per_sec = batch / median step time")
    check(j.get("mode") == mode and j.get("arch") == "resnet18" and j.get("batch") == 2 and j.get("size") == 32
          and j.get("iters") == 2 and j.get("threads") == 2, f"{mode}: flags echoed: {j}")
    check(j.get("isa") in ("scalar", "avx2", "avx512"), f"{mode}: isa {j.get('isa')!r}")
    check(j.get("ranks") == 1 and j.get("allreduce_ms") == 0 and j.get("allreduce_share") == 0 and
          j.get("grad_buckets") == 0 and j.get("grad_buckets_in_backward") == 0 and j.get("grad_bucket_mb") == 0,
          f"{mode}: one process, no gradient sum: {j}")
    check(j.get("precision") == "fp32", f"{mode}: precision fp32 by default: {j.get('precision')!r}")
    check(j.get("fma_peak_gflops") == 0 and j.get("peak_pct") == 0, f"{mode}: no peak without --peak: {j}")
    cpu = j.get("cpu") if isinstance(j.get("cpu"), dict) else {}
    check(list(cpu) == CPU_FIELDS and
          all(isinstance(v, bool) for k, v in cpu.items() if k not in ("int8_tiles", "bf16_dot_vs_fp32_fma", "int8_dot_vs_fp32_fma")) and
          cpu.get("int8_tiles") in ("amx_int8", "avx512_vnni", "avx_vnni", "reference"), f"{mode}: cpu {cpu}")
    # The bf16 dot products' rate against fp32 FMAs: measured where the bf16 kernels run, else 0.
    ratio = cpu.get("bf16_dot_vs_fp32_fma")
    check(isinstance(ratio, float) and (0.2 < ratio < 4 if cpu.get("bf16_kernels") else ratio == 0),
          f"{mode}: cpu.bf16_dot_vs_fp32_fma {ratio}")
    # The same for int8 (AVX512-VNNI) dot products: measured on the avx512 path of a VNNI CPU.
    ratio8 = cpu.get("int8_dot_vs_fp32_fma")
    check(isinstance(ratio8, float) and
          (0.5 < ratio8 < 8 if cpu.get("avx512_vnni") and j.get("isa") == "avx512" else ratio8 == 0),
          f"{mode}: cpu.int8_dot_vs_fp32_fma {ratio8}")
    check(cpu.get("avx512_bf16") == HAS_BF16, f"{mode}: cpu.avx512_bf16 agrees with /proc/cpuinfo: {cpu}")
    # The AMX tiles run only where the CPU has them (and only when DEEPSLIDE_AMX=1 chooses them).
    check(not cpu.get("amx_bf16_kernels") or (cpu.get("amx_bf16") and cpu.get("amx_os_enabled")),
          f"{mode}: cpu.amx_bf16_kernels without AMX-BF16: {cpu}")
    check(not cpu.get("amx_int8_kernels") or (cpu.get("amx_int8") and cpu.get("amx_os_enabled")),
          f"{mode}: cpu.amx_int8_kernels without AMX-INT8: {cpu}")
    check(j.get("caches", {}).get("l2", 0) > 0 and j.get("tuning") in ("file", "derived", "off", "env"),
          f"{mode}: caches and tuning source: {j.get('caches')} {j.get('tuning')}")
    check("iter 2/2" in p.stderr, f"{mode}: progress on stderr: {p.stderr!r}")

# bf16 inference: runs where the CPU has AVX512-BF16, refused (exit 2, one line naming the flag) where not.
args = ["bench", "--mode", "infer", "--precision", "bf16", "--batch", "2", "--size", "32", "--iters", "1",
        "--warmup", "0", "--threads", "2"]
p = run(args, expect=0 if HAS_BF16 else 2)
if HAS_BF16 and p.returncode == 0:
    j = json.loads(p.stdout.splitlines()[0])
    check(j.get("precision") == "bf16" and j["cpu"]["bf16_kernels"], f"bf16: precision echoed: {j}")
elif not HAS_BF16:
    check("--precision" in p.stderr and "AVX512-BF16" in p.stderr, f"bf16 refused with a reason: {p.stderr!r}")

# int8 inference (calibrated on the benchmark's input): runs where the CPU has AVX512-VNNI or AVX-VNNI, refused
# (exit 2, one line naming the flag) where not.
p = run(args[:4] + ["int8"] + args[5:], expect=0 if HAS_VNNI else 2)
if HAS_VNNI and p.returncode == 0:
    j = json.loads(p.stdout.splitlines()[0])
    check(j.get("precision") == "int8" and j["cpu"]["vnni_kernels"], f"int8: precision echoed: {j}")
    want = "avx512_vnni" if "avx512_vnni" in FLAGS else "avx_vnni"
    check(j["cpu"]["int8_tiles"] in (want, "amx_int8"), f"int8: tiles named: {j['cpu']}")
elif not HAS_VNNI:
    check("--precision" in p.stderr and "AVX-VNNI" in p.stderr, f"int8 refused with a reason: {p.stderr!r}")

# Capped at the avx2 path, int8 runs on AVX-VNNI's 256-bit tiles where the CPU has them (Zen 5,
# Intel Alder Lake and later), and is refused naming the cap where it has only AVX512-VNNI.
HAS_AVX_VNNI = "avx_vnni" in FLAGS
os.environ["DEEPSLIDE_ISA"] = "avx2"
p = run(args[:4] + ["int8"] + args[5:], expect=0 if HAS_AVX_VNNI else 2)
del os.environ["DEEPSLIDE_ISA"]
if HAS_AVX_VNNI and p.returncode == 0:
    j = json.loads(p.stdout.splitlines()[0])
    check(j.get("isa") == "avx2" and j["cpu"]["int8_tiles"] == "avx_vnni", f"int8 at avx2: AVX-VNNI tiles: {j}")
elif not HAS_AVX_VNNI:
    want = "DEEPSLIDE_ISA caps it at avx2" if "avx512_vnni" in FLAGS else "lacks it"
    check(want in p.stderr, f"int8 at avx2 refused with a reason: {p.stderr!r}")

# A DEEPSLIDE_ISA that names no path is refused (exit 2, one line naming it), not taken as "no cap".
os.environ["DEEPSLIDE_ISA"] = "avx5l2"
p = run(args[:4] + ["fp32"] + args[5:], expect=2)
del os.environ["DEEPSLIDE_ISA"]
check("DEEPSLIDE_ISA" in p.stderr and "avx5l2" in p.stderr, f"a bad DEEPSLIDE_ISA refused: {p.stderr!r}")

# Issue 20: reduced precision holds no more memory than fp32 at the benchmark's batch (16 at 224 px;
# the int8 run's fp32 calibration once left ~170 MB of Winograd weights cached beside the int8 ones).
rss = {}
for prec, has in (("fp32", True), ("bf16", HAS_BF16), ("int8", HAS_VNNI)):
    if not has:
        print(f"not run: peak RSS at {prec} (this CPU lacks its kernels)")
        continue
    p = run(["bench", "--mode", "infer", "--precision", prec, "--batch", "16", "--size", "224", "--iters", "1",
             "--warmup", "0", "--threads", "2"])
    if p.returncode == 0:
        rss[prec] = json.loads(p.stdout.splitlines()[0])["peak_rss_mb"]
for prec in ("bf16", "int8"):
    if prec in rss and "fp32" in rss:
        check(rss[prec] <= rss["fp32"], f"peak RSS at {prec} {rss[prec]:.0f} MB vs fp32 {rss['fp32']:.0f} MB")

# Reference mode: every kernel on its reference loop, one thread; the JSON line says so.
os.environ["DEEPSLIDE_ISA"] = "ref"
p = run(["bench", "--arch", "resnet18", "--mode", "train", "--batch", "2", "--size", "64", "--iters", "1",
         "--warmup", "0"])
del os.environ["DEEPSLIDE_ISA"]
if p.returncode == 0:
    try:
        j = json.loads(p.stdout.splitlines()[0])
        check(j.get("isa") == "ref" and j.get("images_per_sec", 0) > 0, f"ref: isa ref and a speed: {j}")
    except (ValueError, IndexError) as e:
        check(False, f"ref: stdout is JSON ({e}): {p.stdout!r}")


# The convolutions' flops against torchvision's ResNets (the outside count: every Conv2d's
# 2 x output pixels x OC x C/groups x KH x KW per image, by forward hooks): inference counts the
# forward; a training step adds the weight gradients (the forward's again) and the data gradients
# (all but the stem's, whose input is the batch). conv_gflops is that count at images_per_sec, and
# --peak measures the FMA peak and divides by it.
def torch_conv_flops(arch, size):
    import torch
    import torchvision
    model = getattr(torchvision.models, arch)(num_classes=2).eval()
    convs = []
    def hook(m, _, out):
        convs.append(2 * out[0].numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return sum(convs), sum(convs) * 3 - convs[0]


for arch, size in [("resnet18", 32), ("resnet18", 67), ("resnet50", 64)]:
    fwd, step = torch_conv_flops(arch, size)
    for mode, want in [("infer", fwd), ("train", step)]:
        p = run(["bench", "--arch", arch, "--mode", mode, "--batch", "2", "--size", str(size), "--iters", "1",
                 "--warmup", "0", "--peak"])
        if p.returncode != 0:
            continue
        j = json.loads(p.stdout)
        got = j["conv_gflop_per_image"] * 1e9
        check(abs(got - want) <= 1e-9 * want, f"{arch} {size} px {mode}: {got:.0f} conv flops per image, torch {want}")
        check(abs(j["conv_gflops"] - j["conv_gflop_per_image"] * j["images_per_sec"]) <= 1e-9 * j["conv_gflops"],
              f"{arch} {mode}: conv_gflops = flops per image x images_per_sec: {j}")
        check(j["fma_peak_gflops"] > 0 and
              abs(j["peak_pct"] - 100 * j["conv_gflops"] / j["fma_peak_gflops"]) <= 1e-9 * j["peak_pct"],
              f"{arch} {mode}: --peak: the rate against the measured peak: {j}")

bad = [(["--mode", "foo"], "--mode"), (["--batch", "0"], "--batch"), (["--iters", "0"], "--iters"),
       (["--arch", "resnet7"], "resnet7"), (["--size", "8"], ""), (["--precision", "fp16"], "--precision"),
       (["--precision", "bf16", "--mode", "train"], "--precision"),
       (["--precision", "int8", "--mode", "train"], "--precision"),
       # sizes whose activations alone exceed any machine's memory: refused before allocating
       (["--size", "99999999"], "memory"), (["--batch", "2147483647", "--size", "2147483647"], "memory"),
       (["--batch", "100000000", "--size", "224", "--mode", "train"], "memory")]
# A ResNet-50 training batch just past this machine's memory at its ~3740 bytes per pixel (1024 px);
# the floor once was 3000 bytes, which let such a batch start and be killed by the OOM killer.
bad.append((["--threads", "100000"], "--threads"))  # crashed in the OpenMP runtime (exit 139) before
phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
r50_batch = -(-phys // (1024 * 1024 * 3600))
bad.append((["--arch", "resnet50", "--mode", "train", "--size", "1024", "--batch", str(r50_batch)], "memory"))
for flags, needle in bad:
    opts = {"--batch": "2", "--size": "64", "--iters": "1", "--warmup": "0"}
    opts.update(zip(flags[::2], flags[1::2]))
    args = ["bench"] + [x for kv in opts.items() for x in kv]
    p = run(args, expect=2)
    lines = p.stderr.strip().splitlines()
    check(len(lines) == 1 and lines[0].startswith("deepslide: error: ") and needle in lines[0],
          f"{' '.join(flags)}: one error line naming {needle!r}: {p.stderr!r}")
    check(p.stdout == "", f"{' '.join(flags)}: nothing on stdout: {p.stdout!r}")
# The thread bound holds for the global flag (any command) and for bench-read's own --threads.
for args in (["--threads", "100000", "info", "/nonexistent.tif"], ["bench-read", "/nonexistent.tif", "--threads", "5000"]):
    p = run(args, expect=2)
    lines = p.stderr.strip().splitlines()
    check(len(lines) == 1 and "--threads" in lines[0] and "1024" in lines[0], f"{args}: one line on --threads: {p.stderr!r}")

# --conv-algo and DEEPSLIDE_WINOGRAD (engine/kernels/conv_winograd.h): the JSON says which algorithm
# each convolution ran: direct everywhere, Winograd on every stride-1 3x3 one (ResNet-18's
# layerN.M.conv1/conv2 but the three stride-2 layerN.0.conv1), or the auto choice; the flag wins
# over the variable; anything else is one error line naming the flag or variable, exit 2.
STRIDE1 = {f"layer{a}.{b}.conv{c}" for a in range(1, 5) for b in range(2) for c in (1, 2)} - \
    {f"layer{a}.0.conv1" for a in range(2, 5)}
INFER = ["bench", "--mode", "infer", "--batch", "2", "--size", "32", "--iters", "1", "--warmup", "0"]


def algos(flags=(), env_value=None, expect=0):
    with tempfile.TemporaryDirectory(prefix="ds_bench_xdg_") as xdg:  # no tuning file; removed after
        env = dict(os.environ, XDG_CACHE_HOME=xdg)
        env.pop("DEEPSLIDE_WINOGRAD", None)
        if env_value is not None:
            env["DEEPSLIDE_WINOGRAD"] = env_value
        p = subprocess.run([DEEPSLIDE, *flags, *INFER], capture_output=True, text=True, env=env)
    check(p.returncode == expect, f"{flags} {env_value}: exit {p.returncode}, expected {expect}: {p.stderr[-300:]}")
    if expect:
        lines = p.stderr.strip().splitlines()
        check(len(lines) == 1 and ("--conv-algo" in lines[0] or "DEEPSLIDE_WINOGRAD" in lines[0]),
              f"{flags} {env_value}: an error line naming the flag or variable: {p.stderr!r}")
        return None, {}
    j = json.loads(p.stdout.splitlines()[0])
    return j.get("conv_algo"), j.get("conv_algos", {})


mode, used = algos(["--conv-algo", "direct"])
check(mode == "direct" and len(used) == 20 and set(used.values()) == {"direct"}, f"direct: {mode} {used}")
mode, used = algos(["--conv-algo", "winograd"])
check(mode == "winograd" and {k for k, v in used.items() if v == "winograd"} == STRIDE1 and
      all(v == "direct" for k, v in used.items() if k not in STRIDE1), f"winograd: {mode} {used}")
for value, want in [("0", "direct"), ("1", "winograd"), ("direct", "direct"), ("winograd", "winograd"), ("auto", "auto")]:
    check(algos(env_value=value)[0] == want, f"DEEPSLIDE_WINOGRAD={value} -> {want}")
mode, used = algos(["--conv-algo", "direct"], env_value="1")
check(mode == "direct" and set(used.values()) == {"direct"}, f"the flag wins over the variable: {mode} {used}")
mode, used = algos()
check(mode == "auto" and set(used) == STRIDE1 | {"conv1", "layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1",
                                                 "layer2.0.downsample.0", "layer3.0.downsample.0",
                                                 "layer4.0.downsample.0"}, f"auto: {mode} {used}")
algos(["--conv-algo", "fast"], expect=2)
algos(env_value="yes", expect=2)
# Train mode: the training step's forward, weight-gradient ("<layer>/bwd_weights") and
# backward-data passes ("<layer>/bwd_data"; conv1 has none, its input being the batch), by the
# same flag.
TRAIN = ["bench", "--mode", "train", "--batch", "2", "--size", "32", "--iters", "1", "--warmup", "0"]
for flag, want in [("direct", set()), ("winograd", STRIDE1)]:
    b = json.loads(run(["--conv-algo", flag, *TRAIN]).stdout)
    used = b.get("conv_algos", {})
    fwd = {k: v for k, v in used.items() if "/" not in k}
    bwd = {k[:-len("/bwd_data")]: v for k, v in used.items() if k.endswith("/bwd_data")}
    wgt = {k[:-len("/bwd_weights")]: v for k, v in used.items() if k.endswith("/bwd_weights")}
    check(b.get("conv_algo") == flag and len(fwd) == 20 and len(bwd) == 19 and len(wgt) == 20 and
          len(used) == 59 and
          all({k for k, v in p.items() if v == "winograd"} == want for p in (fwd, bwd, wgt)) and
          all(v in ("direct", "winograd") for v in used.values()), f"train {flag}: {b.get('conv_algo')} {used}")

# --layers: every convolution pass of a timed step, in the order conv_algos lists them, with its
# median time, flops and rate; their flops the bench's, their time within the step's.
for mode in ["infer", "train"]:
    p = run(["bench", "--arch", "resnet18", "--mode", mode, "--batch", "2", "--size", "32", "--iters", "3",
             "--warmup", "1", "--threads", "2", "--layers", "--peak"])
    if p.returncode != 0:
        continue
    j = json.loads(p.stdout)
    layers = j.get("layers", [])
    check(list(j)[-2:] == ["layers", "layers_ms"], f"{mode} --layers: the fields last: {list(j)[-4:]}")
    check([x.get("layer") for x in layers] == list(j["conv_algos"]) and
          [x.get("algo") for x in layers] == list(j["conv_algos"].values()),
          f"{mode} --layers: the passes of conv_algos in order: {[x.get('layer') for x in layers]}")
    check(len(layers) == (20 if mode == "infer" else 59), f"{mode} --layers: {len(layers)} passes")
    check(all(x["ms"] > 0 and x["gflops"] > 0 and x["peak_pct"] > 0 and
              abs(x["gflops"] - x["gflop"] / (x["ms"] * 1e-3)) <= 1e-9 * x["gflops"] and
              abs(x["peak_pct"] - 100 * x["gflops"] / j["fma_peak_gflops"]) <= 1e-9 * x["peak_pct"] for x in layers),
          f"{mode} --layers: times, rates and peak shares: {layers[:3]}")
    check(abs(sum(x["gflop"] for x in layers) - 2 * j["conv_gflop_per_image"]) <= 1e-9 * j["conv_gflop_per_image"],
          f"{mode} --layers: the passes' flops are the bench's")
    # Each pass's shape gives its flops (batch 2): the stem 3 -> 64 7x7/2 to 16 x 16 at 32 px.
    check(all(abs(2e-9 * 2 * x["out_h"] * x["out_w"] * x["oc"] * x["c"] * x["k"] ** 2 - x["gflop"]) <= 1e-9 * x["gflop"]
              for x in layers) and
          [layers[0][f] for f in ("c", "oc", "k", "stride", "out_h", "out_w")] == [3, 64, 7, 2, 16, 16],
          f"{mode} --layers: shapes {layers[0]}")
    check(abs(j["layers_ms"] - sum(x["ms"] for x in layers)) <= 1e-9 * j["layers_ms"] and
          0 < j["layers_ms"] < 1.5 * j["ms_per_batch"],
          f"{mode} --layers: layers_ms {j['layers_ms']} (step {j['ms_per_batch']} ms)")
b = json.loads(run(["bench", "--batch", "2", "--size", "32", "--iters", "1", "--warmup", "0"]).stdout)
check("layers" not in b and "layers_ms" not in b, "no layers without --layers")

if failures:
    for f in failures:
        print("FAIL:", f)
    sys.exit(f"{len(failures)} check(s) failed")
print("OK")
