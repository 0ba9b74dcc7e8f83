#!/usr/bin/python3
# Slide-read throughput: `deepslide bench-read` against OpenSlide (python3-openslide, as
# DeepSlide calls it) on the same file in the same run, runs alternating so both see the same
# machine load. One file per format (--format, or any file with --slide, repeatable):
#   tiff      a 16384 x 16384 pyramid of 256 px JPEG Q80 tiles written by vips (smooth colour
#             blobs plus noise, ~24 KB per tile);
#   svs-jp2k  an 8192 x 8192 Aperio SVS of 240 px JPEG 2000 tiles (33003, YCbCr 4:2:2, ratio
#             12), written by scripts/gen_svs_jp2k.py (opj_compress + tifffile);
#   ndpi      an 8192 x 8192 Hamamatsu NDPI, 4:2:2 JPEG Q85 with a restart marker every 32
#             MCUs (512 x 8 px tiles), written by scripts/gen_ndpi.py (cjpeg + an NDPI container);
#   philips   an 8192 x 8192 Philips TIFF of 256 px JPEG Q85 tiles (PIL), two of them absent,
#             written by scripts/gen_philips.py;
#   ventana   an 8192 x 8192 Ventana BIF of 256 px JPEG Q85 tiles (PIL) in two areas of
#             interest, written by scripts/gen_ventana.py;
#   ventana-overlap  the same with tiles overlapping by about 23 x 14 px and the areas off the
#             tile grid (gen_ventana.py --overlap 23 14): both readers resample every tile at
#             its sub-pixel position;
#   leica     a Leica SCN whose slide is 16129 x 9678 px at level 0, two main images (8064 x
#             4838 and 3225 x 3225) of 256 px JPEG Q85 tiles (PIL) composited on it, written by
#             scripts/gen_leica.py --scale 8 --tile 256;
#   mirax     a 3DHistech MIRAX slide of 8012 x 6034 px: 16 x 12 camera photos of 2 x 2 images of
#             256 px (PIL JPEG Q88) that overlap by about 12 x 10 px, at stored positions moved by
#             up to 3 px, five zoom levels, written by scripts/gen_mirax.py: both readers draw
#             each image at its position (whole pixels at level 0).
# Patterns: aligned (one whole deepslide tile per region; for NDPI that is 8 of OpenSlide's
# restart-interval tiles of a column, 512 x 64), random (224 x 224
# anywhere on level 0) and raster (224 x 224 windows side by side, row by row: a sliding
# window); 1 and 2 threads. Both readers use a 32 MiB decoded-tile cache (OpenSlide 3.4's
# default). deepslide runs twice per round: with its default --partial-decode auto (tiles are
# decoded only in the part a region needs, straight into it, uncached, while the cache sees
# little reuse) and with
# --partial-decode never (every tile decoded whole and cached, as OpenSlide does).
# --baseline B adds another deepslide binary (an earlier build, default mode) to each round, for
# before/after figures measured side by side.
# Prints a Markdown table per file for BENCHMARKS.md.
#
#   /usr/bin/python3 bench/compare_openslide.py --deepslide build/deepslide [--format F]... [--slide F]...
#       [--count N] [--rounds R] [--baseline OLD_BINARY]
import argparse
import json
import os
import random
import statistics
import subprocess
import threading
import time

import openslide

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SLIDES = {"tiff": "/tmp/ds_bench/slide16k.tif", "svs-jp2k": "/tmp/ds_bench/jp2k8k.svs",
                  "ndpi": "/tmp/ds_bench/ndpi8k.ndpi", "philips": "/tmp/ds_bench/philips8k.tiff",
                  "ventana": "/tmp/ds_bench/ventana8k.bif", "leica": "/tmp/ds_bench/leica.scn",
                  "ventana-overlap": "/tmp/ds_bench/ventana8k_overlap.bif", "mirax": "/tmp/ds_bench/mirax8k.mrxs"}


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


def make_format_slide(fmt, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    script = {"svs-jp2k": "gen_svs_jp2k.py", "ndpi": "gen_ndpi.py", "philips": "gen_philips.py",
              "ventana": "gen_ventana.py", "leica": "gen_leica.py", "ventana-overlap": "gen_ventana.py",
              "mirax": "gen_mirax.py"}[fmt]
    size = ["--width", "8192", "--height", "8192"]
    extra = {"svs-jp2k": size + ["--levels", "3"], "ndpi": size + ["--levels", "4"],
             "philips": size + ["--levels", "4", "--tile", "256"],
             "ventana": ["--cols", "32", "--rows", "32", "--levels", "4", "--tile", "256"],
             "leica": ["--scale", "8", "--tile", "256"],
             "ventana-overlap": ["--cols", "32", "--rows", "32", "--levels", "4", "--tile", "256", "--overlap", "23",
                                 "14"],
             "mirax": ["--cols", "16", "--rows", "12", "--divisions", "2", "--image", "256", "256", "--levels", "5",
                       "--overlap", "12", "10", "--jitter", "3"]}[fmt]
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "..", "scripts", script), path, *extra], check=True)


def ours(binary, slide, pattern, threads, count, seed, partial="auto"):
    out = subprocess.run([binary, "bench-read", slide, "--pattern", pattern, "--size", "224", "--count",
                          str(count), "--threads", str(threads), "--seed", str(seed), "--cache-mb", "32",
                          "--partial-decode", partial],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["regions_per_sec"]


def tile_size(binary, slide):
    """deepslide's level-0 tile, which bench-read's aligned pattern reads (for NDPI, 8 restart
    intervals of a column, where OpenSlide's tile is one interval)."""
    L = json.loads(subprocess.run([binary, "info", slide], check=True, capture_output=True, text=True).stdout)
    return L["levels"][0]["tile_width"], L["levels"][0]["tile_height"]


def theirs(slide_path, pattern, threads, count, seed, tile):
    s = openslide.OpenSlide(slide_path)  # fresh cache each run, as ours
    w, h = s.level_dimensions[0]
    tw, th = tile
    rng = random.Random(seed)
    if pattern == "aligned":  # as bench-read: the same regions, a whole deepslide tile each
        pos = [(rng.randrange(-(-w // tw)) * tw, rng.randrange(-(-h // th)) * th, (tw, th)) for _ in range(count)]
    elif pattern == "raster":  # as bench-read: row-major, stride 224, wrapping
        cols, rows = w // 224, h // 224
        pos = [(i % (cols * rows) % cols * 224, i % (cols * rows) // cols * 224, (224, 224)) for i in range(count)]
    else:
        pos = [(rng.randrange(w - 224), rng.randrange(h - 224), (224, 224)) for _ in range(count)]
    nxt = iter(range(count))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                return
            x, y, size = pos[i]
            s.read_region((x, y), 0, size)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    s.close()
    return count / dt


def bench(a, slide):
    rows = []
    tile = tile_size(a.deepslide, slide)
    for pattern in ["aligned", "random", "raster"]:
        for threads in [1, 2]:
            o, p1, t, b = [], [], [], []
            for r in range(a.rounds):  # alternate so all see the same load
                o.append(ours(a.deepslide, slide, pattern, threads, a.count, r))
                t.append(theirs(slide, pattern, threads, a.count, r, tile))
                p1.append(ours(a.deepslide, slide, pattern, threads, a.count, r, "never"))
                if a.baseline:
                    b.append(ours(a.baseline, slide, pattern, threads, a.count, r))
            mo, mp, mt = statistics.median(o), statistics.median(p1), statistics.median(t)
            rows.append((pattern, threads, mo, mp, mt, statistics.median(b) if b else None))
            print(json.dumps({"slide": slide, "pattern": pattern, "threads": threads, "deepslide_regions_per_sec": o,
                              "deepslide_never_partial_regions_per_sec": p1, "openslide_regions_per_sec": t,
                              "baseline_regions_per_sec": b}),
                  flush=True)
    s = openslide.OpenSlide(slide)
    # Ventana BIF and Leica SCN levels have no tile size in OpenSlide's properties.
    their_tile = " x ".join(s.properties.get(f"openslide.level[0].tile-{k}", "?") for k in ("width", "height"))
    print(f"\n{os.path.basename(slide)}: {s.properties['openslide.vendor']}, {s.level_dimensions[0][0]} x "
          f"{s.level_dimensions[0][1]}, OpenSlide's tiles {their_tile}, deepslide's (aligned regions) "
          f"{tile[0]} x {tile[1]}")
    base = " baseline (default) | baseline ratio |" if a.baseline else ""
    print("\n| pattern | threads | deepslide (default: --partial-decode auto) | deepslide --partial-decode never |"
          " OpenSlide | ratio default | ratio never |" + base)
    print("|---|---|---|---|---|---|---|" + ("---|---|" if a.baseline else ""))
    for p, th, mo, mp, mt, mb in rows:
        extra = f" {mb:.0f} | {mb / mt:.2f}x |" if a.baseline else ""
        print(f"| {p} | {th} | {mo:.0f} | {mp:.0f} | {mt:.0f} | {mo / mt:.2f}x | {mp / mt:.2f}x |" + extra, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deepslide", default="build/deepslide")
    ap.add_argument("--format", action="append", choices=sorted(DEFAULT_SLIDES),
                    help="bench this format's default file (made on first use); repeatable")
    ap.add_argument("--slide", action="append", help="bench this file; repeatable")
    ap.add_argument("--count", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", help="an earlier deepslide binary, run in the same rounds (before/after)")
    a = ap.parse_args()
    slides = list(a.slide or [])
    for fmt in a.format or ([] if slides else ["tiff"]):
        path = DEFAULT_SLIDES[fmt]
        if not os.path.exists(path):
            make_slide(path) if fmt == "tiff" else make_format_slide(fmt, path)
        slides.append(path)
    for slide in slides:
        bench(a, slide)


if __name__ == "__main__":
    main()
