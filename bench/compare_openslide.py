#!/usr/bin/python3
# Slide-read throughput: `deepslide bench-read` against OpenSlide (python3-openslide, as
# DeepSlide calls it) on the same file in the same run, runs alternating so both see the same
# machine load. Default file: a 16384 x 16384 pyramid of 256 px JPEG Q80 tiles written by vips
# (smooth colour blobs plus noise, ~24 KB per tile). Patterns: aligned (one whole tile per
# region), random (224 x 224 anywhere on level 0) and raster (224 x 224 windows side by side, row
# by row: a sliding window); 1 and 2 threads. Both readers use a 32 MiB decoded-tile cache
# (OpenSlide 3.4's default). deepslide runs twice per round: with its default --partial-decode
# auto (tiles a region only clips are decoded in part, uncached, while the cache sees little
# reuse) and with --partial-decode never (every tile decoded whole and cached, as OpenSlide does).
# Prints a Markdown table for BENCHMARKS.md.
#
#   /usr/bin/python3 bench/compare_openslide.py --deepslide build/deepslide [--slide F] [--count N]
import argparse
import json
import os
import random
import statistics
import subprocess
import threading
import time

import openslide


def make_slide(path):
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    v = lambda *a: subprocess.run(["vips", *map(str, a)], check=True, cwd=d)
    v("gaussnoise", "n1.v", 1024, 1024, "--mean", 150, "--sigma", 50)
    v("gaussnoise", "n2.v", 1024, 1024, "--mean", 110, "--sigma", 50)
    v("gaussnoise", "n3.v", 1024, 1024, "--mean", 170, "--sigma", 40)
    v("bandjoin", "n1.v n2.v n3.v", "n.v")
    v("resize", "n.v", "big.v", 16, "--kernel", "cubic")
    v("gaussnoise", "f.v", 16384, 16384, "--mean", 0, "--sigma", 10)
    v("add", "big.v", "f.v", "s.v")
    v("cast", "s.v", "c.v", "uchar")
    v("tiffsave", "c.v", path, "--tile", "--pyramid", "--compression", "jpeg", "--Q", 80,
      "--tile-width", 256, "--tile-height", 256)
    for f in ["n1.v", "n2.v", "n3.v", "n.v", "big.v", "f.v", "s.v", "c.v"]:
        os.remove(os.path.join(d, f))


def ours(binary, slide, pattern, threads, count, seed, partial="auto"):
    out = subprocess.run([binary, "bench-read", slide, "--pattern", pattern, "--size", "224", "--count",
                          str(count), "--threads", str(threads), "--seed", str(seed), "--cache-mb", "32",
                          "--partial-decode", partial],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["regions_per_sec"]


def theirs(slide_path, pattern, threads, count, seed):
    s = openslide.OpenSlide(slide_path)  # fresh cache each run, as ours
    w, h = s.level_dimensions[0]
    rng = random.Random(seed)
    if pattern == "aligned":
        pos = [(rng.randrange(w // 256) * 256, rng.randrange(h // 256) * 256, 256) for _ in range(count)]
    elif pattern == "raster":  # as bench-read: row-major, stride 224, wrapping
        cols, rows = w // 224, h // 224
        pos = [(i % (cols * rows) % cols * 224, i % (cols * rows) // cols * 224, 224) for i in range(count)]
    else:
        pos = [(rng.randrange(w - 224), rng.randrange(h - 224), 224) for _ in range(count)]
    nxt = iter(range(count))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                return
            x, y, size = pos[i]
            s.read_region((x, y), 0, (size, size))

    t0 = time.perf_counter()
    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    s.close()
    return count / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deepslide", default="build/deepslide")
    ap.add_argument("--slide", default="/tmp/ds_bench/slide16k.tif")
    ap.add_argument("--count", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if not os.path.exists(a.slide):
        make_slide(a.slide)
    rows = []
    for pattern in ["aligned", "random", "raster"]:
        for threads in [1, 2]:
            o, p1, t = [], [], []
            for r in range(a.rounds):  # alternate so all see the same load
                o.append(ours(a.deepslide, a.slide, pattern, threads, a.count, r))
                t.append(theirs(a.slide, pattern, threads, a.count, r))
                p1.append(ours(a.deepslide, a.slide, pattern, threads, a.count, r, "never"))
            mo, mp, mt = statistics.median(o), statistics.median(p1), statistics.median(t)
            rows.append((pattern, threads, mo, mp, mt))
            print(json.dumps({"pattern": pattern, "threads": threads, "deepslide_regions_per_sec": o,
                              "deepslide_never_partial_regions_per_sec": p1, "openslide_regions_per_sec": t}),
                  flush=True)
    print("\n| pattern | threads | deepslide (default: --partial-decode auto) | deepslide --partial-decode never |"
          " OpenSlide | ratio default | ratio never |")
    print("|---|---|---|---|---|---|---|")
    for p, th, mo, mp, mt in rows:
        print(f"| {p} | {th} | {mo:.0f} | {mp:.0f} | {mt:.0f} | {mo / mt:.2f}x | {mp / mt:.2f}x |")


if __name__ == "__main__":
    main()
