#!/usr/bin/python3
"""`deepslide tune` from the outside: --show reports the caches Linux's sysfs reports and the blocking
derived from them; a tune over tiny shapes (ResNet-18 at batch 1, 32 px, one round) writes this CPU's
file under $XDG_CACHE_HOME/deepslide atomically; a second process (bench, tune --show) then reports
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
check(tuned.get("format") == "deepslide-tune" and len(tuned.get("classes", {})) == 32,
      f"32 classes (11 shapes x 3 passes, no conv1 bwd_data): {list(tuned.get('classes', {}))}")
check(all(set(c["blocking"]) == {"chunk_k", "group_bytes", "super_weight_bytes", "wgrad_super_bytes",
                                 "wgrad_chunk_bytes", "wgrad_part_bytes"} and c["ms"] <= c["derived_ms"]
          for c in tuned.get("classes", {}).values()), "each class: a full blocking, no slower than the derived one")


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
