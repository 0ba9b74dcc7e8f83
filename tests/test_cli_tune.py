#!/usr/bin/python3
"""`deepslide tune` from the outside: --show reports the caches Linux's sysfs reports and the blocking
derived from them; a tune over tiny shapes (ResNet-18 at batch 1, 32 px, one round) writes this CPU's
file under $XDG_CACHE_HOME/deepslide atomically, with the blockings and the direct-or-Winograd choice of
each stride-1 3x3 shape (forward, weight gradient, bf16), which `--conv-algo auto` follows (bench's conv_algos; a flipped choice
redoes predict's slides) and the flag overrides; a second process (bench, tune --show) then reports
"tuning": "file"; --tuning off and DEEPSLIDE_TUNING=off ignore it; a corrupt file, one for another
ISA and one with a value out of range are ignored with a warning naming the file (exit 0, derived
blocking); bad flags exit 2. Run by ctest with /usr/bin/python3; env DEEPSLIDE is the binary."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import DEEPSLIDE, check, failures, run, tempdir  # noqa: E402

xdg = tempdir("ds_tune_")
os.environ["XDG_CACHE_HOME"] = xdg
os.environ.pop("DEEPSLIDE_TUNING", None)
os.environ.pop("DEEPSLIDE_CONV_BLOCKING", None)
os.environ.pop("DEEPSLIDE_CACHES", None)


def show(extra=(), env=None):
    p = subprocess.run([DEEPSLIDE, *extra, "tune", "--show"], capture_output=True, text=True, env=env)
    check(p.returncode == 0, f"tune --show {extra}: exit {p.returncode}: {p.stderr}")
    try:
        return json.loads(p.stdout), p.stderr
    except ValueError:
        check(False, f"tune --show prints JSON: {p.stdout!r}")
        return {}, p.stderr


def sysfs_caches():
    out = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    for idx in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        if not idx.startswith("index"):
            continue
        rd = lambda n: open(os.path.join(base, idx, n)).read().strip()  # noqa: E731
        size = rd("size")
        size = int(size[:-1]) * (1024 if size[-1] == "K" else 1 << 20) if size[-1] in "KM" else int(size)
        if rd("level") == "1" and rd("type") == "Data":
            out["l1d"] = size
        elif rd("level") in ("2", "3") and rd("type") != "Instruction":
            out["l" + rd("level")] = size
    return out


j, _ = show()
cpu = j.get("cpu", {})
path = j.get("file", "")
check(j.get("tuning") == "derived", f"no file yet: tuning derived: {j}")
check(path.startswith(xdg + "/deepslide/tune-") and path.endswith(f"-{j.get('isa')}.json"),
      f"file under XDG_CACHE_HOME/deepslide, named for the CPU and ISA: {path}")
for k, v in sysfs_caches().items():
    check(cpu.get(k) == v, f"{k}: deepslide {cpu.get(k)} == sysfs {v}")
l2 = cpu.get("l2", 0)
check(j.get("derived", {}).get("chunk_k") == max(64, l2 * 9 // 32 // 256 // 16 * 16) and
      j["derived"].get("super_weight_bytes") == l2 * 5 // 8, f"derived from L2 = {l2}: {j.get('derived')}")

# Relative XDG_CACHE_HOME is invalid (XDG spec): HOME/.cache instead.
home = tempdir("ds_tune_home_")
j2, _ = show(env=dict(os.environ, XDG_CACHE_HOME="relative/dir", HOME=home))
check(j2.get("file", "").startswith(home + "/.cache/deepslide/"), f"relative XDG ignored: {j2.get('file')}")

p = run(["tune", "--batch", "1", "--size", "32", "--rounds", "1", "--threads", "2"])
check("[32/32]" in p.stderr and "wrote " + path in p.stderr, f"progress and the file named: {p.stderr[-500:]}")
check(sorted(os.listdir(os.path.dirname(path))) == [os.path.basename(path)] if os.path.exists(path) else False,
      f"only the file, no temporaries: {os.listdir(os.path.dirname(path)) if os.path.isdir(os.path.dirname(path)) else None}")
good = open(path).read() if os.path.exists(path) else "{}"
tuned = json.loads(good)
blockings = {k: v for k, v in tuned.get("classes", {}).items() if "winograd/" not in k}
choices = {k: v for k, v in tuned.get("classes", {}).items() if k.startswith("winograd/")}
bf16_choices = {k: v for k, v in tuned.get("classes", {}).items() if k.startswith("bf16-winograd/")}
wgrad_choices = {k: v for k, v in tuned.get("classes", {}).items() if k.startswith("wgrad-winograd/")}
check(tuned.get("format") == "deepslide-tune" and tuned.get("version") == 5 and len(blockings) == 32,
      f"32 blocking classes (11 shapes x 3 passes, no conv1 bwd_data): {list(tuned.get('classes', {}))}")
check(all(set(c["blocking"]) == {"chunk_k", "group_bytes", "super_weight_bytes", "wgrad_super_bytes",
                                 "wgrad_chunk_bytes", "wgrad_part_bytes", "wgrad_vectors"} and c["ms"] <= c["derived_ms"]
          for c in blockings.values()), "each class: a full blocking, no slower than the derived one")
# The algorithm choices: ResNet-18's four stride-1 3x3 shapes at 32 px (maps 8, 4, 2 and 1 px), batch 1;
# Winograd chosen only where it beat the direct convolution by 3%.
want = {f"winograd/c{c}/oc{c}/{h}x{h}/p1" for c, h in ((64, 8), (128, 4), (256, 2), (512, 1))}
check(set(choices) == want, f"choices for {sorted(want)}: {sorted(choices)}")
check(all(c["batch"] == 1 and c["winograd"] == (c["ms"] < 0.97 * c["direct_ms"]) for c in choices.values()),
      f"each choice the faster by 3%: {choices}")
check(p.stderr.count("tune: [winograd] ") == 4, f"a progress line per choice: {p.stderr[-600:]}")
# The same four shapes' weight gradients (direct against Winograd, fp32).
check(set(wgrad_choices) == {"wgrad-" + k for k in want}, f"weight-gradient choices: {sorted(wgrad_choices)}")
check(all(c["batch"] == 1 and c["winograd"] == (c["ms"] < 0.97 * c["direct_ms"]) for c in wgrad_choices.values()),
      f"each weight-gradient choice the faster by 3%: {wgrad_choices}")
check(p.stderr.count("tune: [wgrad-winograd] ") == 4, f"a progress line per weight-gradient choice: {p.stderr[-600:]}")
# The same four shapes at bf16 (bf16 direct against bf16 Winograd F(2x2)), where the CPU has the kernels.
with open("/proc/cpuinfo") as f:
    has_bf16 = "avx512_bf16" in f.read().split()
if has_bf16:
    check(set(bf16_choices) == {"bf16-" + k for k in want}, f"bf16 choices: {sorted(bf16_choices)}")
    check(all(c["batch"] == 1 and c["winograd"] == (c["ms"] < 0.97 * c["direct_ms"]) for c in bf16_choices.values()),
          f"each bf16 choice the faster by 3%: {bf16_choices}")
    check(p.stderr.count("tune: [bf16-winograd] ") == 4, f"a progress line per bf16 choice: {p.stderr[-600:]}")
else:
    check(not bf16_choices and "bf16 not measured" in p.stderr, f"no bf16 choices without the kernels: {p.stderr[-300:]}")
    print("not run: the bf16 choices (this CPU lacks AVX512-BF16)")


def bench(extra=(), env=None):
    p = subprocess.run([DEEPSLIDE, *extra, "bench", "--mode", "train", "--batch", "2", "--size", "32", "--iters", "1",
                        "--warmup", "0", "--threads", "2"], capture_output=True, text=True, env=env)
    check(p.returncode == 0, f"bench {extra}: exit {p.returncode}: {p.stderr[-500:]}")
    try:
        return json.loads(p.stdout.splitlines()[0]), p.stderr
    except (ValueError, IndexError):
        check(False, f"bench prints JSON: {p.stdout!r}")
        return {}, p.stderr


b, _ = bench()
check(b.get("tuning") == "file" and b.get("classes") == 32 and b.get("file") == path, f"bench uses the file: {b}")
check(show()[0].get("tuning") == "file", "tune --show: file")
check(bench(["--tuning", "off"])[0].get("tuning") == "off", "--tuning off")
check(bench(env=dict(os.environ, DEEPSLIDE_TUNING="off"))[0].get("tuning") == "off", "DEEPSLIDE_TUNING=off")
check(bench(env=dict(os.environ, DEEPSLIDE_CONV_BLOCKING="tiny"))[0].get("tuning") == "env",
      "DEEPSLIDE_CONV_BLOCKING before the file")

isa = tuned.get("cpu", {}).get("isa", "")
bad_files = {
    "corrupt": (good[: len(good) // 2], "not valid JSON"),
    "foreign": (good.replace(f'"isa": "{isa}"', '"isa": "other"'), "another CPU"),
    "out of range": (good.replace('"chunk_k": ', '"chunk_k": -', 1), "chunk_k"),
    "not ours": ('{"format": "something else"}', "not a deepslide tuning file"),
}
for what, (text, reason) in bad_files.items():
    with open(path, "w") as f:
        f.write(text)
    b, err = bench()
    warn = [l for l in err.splitlines() if "warning: tuning file ignored" in l]
    check(b.get("tuning") == "ignored" and reason in b.get("warning", ""), f"{what}: ignored: {b}")
    check(len(warn) == 1 and path in warn[0] and reason in warn[0], f"{what}: one warning naming the file: {err[-400:]}")



# --conv-algo auto follows the file's choices (bench --mode infer reports each convolution's
# algorithm; --mode train each weight-gradient pass's), the flag overrides them, and predict redoes a slide when a choice flips.
STRIDE1 = {f"layer{a}.{b}.conv{c}" for a in range(1, 5) for b in range(2) for c in (1, 2)} - \
    {f"layer{a}.0.conv1" for a in range(2, 5)}


def set_choices(value):
    t = json.loads(good)
    for k in choices:
        t["classes"][k]["winograd"] = value
    with open(path, "w") as f:
        json.dump(t, f)


def winograd_layers(extra=()):
    p = subprocess.run([DEEPSLIDE, *extra, "bench", "--mode", "infer", "--batch", "1", "--size", "32", "--iters", "1",
                        "--warmup", "0", "--threads", "2"], capture_output=True, text=True)
    check(p.returncode == 0, f"bench infer {extra}: exit {p.returncode}: {p.stderr[-500:]}")
    used = json.loads(p.stdout.splitlines()[0]).get("conv_algos", {}) if p.returncode == 0 else {}
    return {k for k, v in used.items() if v == "winograd"}


set_choices(True)
check(winograd_layers() == STRIDE1, f"every choice winograd: {winograd_layers()}")
check(winograd_layers(["--conv-algo", "direct"]) == set(), "--conv-algo direct over the file")
set_choices(False)
check(winograd_layers() == set(), f"every choice direct: {winograd_layers()}")
check(winograd_layers(["--conv-algo", "winograd"]) == STRIDE1, "--conv-algo winograd over the file")

# The weight-gradient choices, made to hold at a training batch of 8 (where the rule alone picks
# Winograd for layer1: 8x8 maps, 32 tiles), are what auto follows in training (bench --mode train
# reports each "<layer>/bwd_weights" pass).
def set_wgrad_choices(value):
    t = json.loads(good)
    for k in wgrad_choices:
        t["classes"][k]["winograd"] = value
        t["classes"][k]["batch"] = 8
    with open(path, "w") as f:
        json.dump(t, f)


def wgrad_layers(extra=(), batch="8"):
    p = subprocess.run([DEEPSLIDE, *extra, "bench", "--mode", "train", "--batch", batch, "--size", "32", "--iters", "1",
                        "--warmup", "0", "--threads", "2"], capture_output=True, text=True)
    check(p.returncode == 0, f"bench train {extra}: exit {p.returncode}: {p.stderr[-500:]}")
    used = json.loads(p.stdout.splitlines()[0]).get("conv_algos", {}) if p.returncode == 0 else {}
    return {k[:-len("/bwd_weights")] for k, v in used.items() if k.endswith("/bwd_weights") and v == "winograd"}


LAYER1 = {k for k in STRIDE1 if k.startswith("layer1.")}
check(wgrad_layers(["--tuning", "off"]) == LAYER1, f"the rule alone at batch 8: layer1: {wgrad_layers(['--tuning', 'off'])}")
set_wgrad_choices(True)
check(wgrad_layers() == STRIDE1, f"every weight-gradient choice winograd: {wgrad_layers()}")
set_wgrad_choices(False)
check(wgrad_layers() == set(), f"every weight-gradient choice direct: {wgrad_layers()}")
check(wgrad_layers(["--conv-algo", "winograd"]) == STRIDE1, "--conv-algo winograd over the weight-gradient choices")

wsi, out = f"{xdg}/wsi", f"{xdg}/pred"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "1", "--width", "320", "--height", "320", "--seed", "3"])
cls = sorted(os.listdir(wsi))
with open(f"{xdg}/labels.csv", "w") as f:
    f.write("img,gt\n" + "".join(f"{c}/{sorted(os.listdir(f'{wsi}/{c}'))[0]},{c}\n" for c in cls))
run(["init-model", "--arch", "resnet18", "--classes", ",".join(cls), "--patch-size", "32", "--out", f"{xdg}/m.safetensors"])
predict = ["predict", "--model", f"{xdg}/m.safetensors", "--all-wsi", wsi, "--labels", f"{xdg}/labels.csv", "--out", out,
           "--overlap", "1", "--tissue", "none", "--threads", "2"]
set_choices(True)
run(predict)
keys = [json.load(open(os.path.join(out, f)))["key"]["winograd"]
        for f in (os.listdir(out) if os.path.isdir(out) else []) if f.endswith(".key.json")]
check(len(keys) == 2 and all(k.startswith("auto+tuned:") for k in keys), f"keys hold the choices' fingerprint: {keys}")
p = run(predict)
check(p.stderr.count("is up to date, skipped") == 2, f"same choices: skipped: {p.stderr[-400:]}")
set_choices(False)
p = run(predict)
check(p.stderr.count("redone: the convolution algorithm changed") == 2, f"a flipped choice redoes: {p.stderr[-400:]}")
p = run(["--conv-algo", "direct"] + predict)
check(p.stderr.count("redone: the convolution algorithm changed") == 2, f"--conv-algo direct redoes: {p.stderr[-400:]}")
with open(path, "w") as f:
    f.write(good)

for args in (["tune", "--size", "8"], ["tune", "--rounds", "0"]):
    p = run(args, expect=2)
    check(p.stderr.strip().count("\n") == 0, f"{args}: one error line: {p.stderr!r}")
run(["--tuning", "maybe", "tune", "--show"], expect=2)

# A malformed DEEPSLIDE_CACHES is refused in one line naming it, as DEEPSLIDE_CONV_BLOCKING is.
for spec in ("l2=-5", "l2=99999999999999999999", "l4=1M", "../x"):
    p = subprocess.run([DEEPSLIDE, "tune", "--show"], capture_output=True, text=True,
                       env=dict(os.environ, DEEPSLIDE_CACHES=spec))
    line = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
    check(p.returncode == 2 and "DEEPSLIDE_CACHES" in line and spec in line,
          f"DEEPSLIDE_CACHES={spec}: exit {p.returncode}, {line!r}")

if failures:
    for f in failures:
        print("FAIL:", f)
    sys.exit(f"{len(failures)} check(s) failed")
print("OK")
