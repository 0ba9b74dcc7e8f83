#!/usr/bin/python3
"""`deepslide bench-read` on a DICOM WSI series against the TIFF its tiles came from (issue 22).

scripts/gen_dicom.py cuts the JPEG tiles of a libvips pyramid into one DICOM instance per level,
unchanged, so both files hold the same compressed tiles and the comparison is the container's
cost alone: frame lookup and pread for DICOM, the TIFF directory's offsets for the TIFF. Runs
alternate (TIFF, DICOM folder, DICOM instance file) within each round; the table gives each
one's median regions/s over the rounds and the DICOM/TIFF ratio.

    /usr/bin/python3 bench/compare_dicom_tiff.py --deepslide build/deepslide [--width 6144 --height 4096
        --count 1500 --rounds 3 --keep DIR]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import gen_dicom  # noqa: E402


def bench(deepslide, path, pattern, threads, count, seed):
    p = subprocess.run([deepslide, "bench-read", path, "--pattern", pattern, "--threads", str(threads),
                        "--count", str(count), "--seed", str(seed)], check=True, capture_output=True, text=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deepslide", default="build/deepslide")
    ap.add_argument("--width", type=int, default=6144)
    ap.add_argument("--height", type=int, default=4096)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--count", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keep", help="folder to write the slides to and keep (default: a temporary one)")
    a = ap.parse_args()
    tmp = a.keep or tempfile.mkdtemp(prefix="ds_bench_dicom_")
    series, tif = os.path.join(tmp, "series"), os.path.join(tmp, "pyramid.tif")
    if not os.path.isdir(series):
        gen_dicom.write_series(series, a.width, a.height, a.tile, keep_tiff=tif)
    files = {"tiff": tif, "dicom folder": series, "dicom file": os.path.join(series, "level0.dcm")}
    key = "regions_per_sec"
    print(f"slide {a.width}x{a.height}, {a.tile}-px JPEG tiles (vips Q85), {a.count} regions per run, "
          f"{a.rounds} rounds, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}")
    print("| pattern | threads | TIFF | DICOM folder | DICOM file | DICOM/TIFF |")
    print("|---|---|---|---|---|---|")
    for pattern in ("aligned", "random", "raster"):
        for threads in (1, 2):
            got = {k: [] for k in files}
            for r in range(a.rounds):
                for name, path in files.items():
                    got[name].append(bench(a.deepslide, path, pattern, threads, a.count, r)[key])
            med = {k: statistics.median(v) for k, v in got.items()}
            print(f"| {pattern} | {threads} | {med['tiff']:.0f} | {med['dicom folder']:.0f} | "
                  f"{med['dicom file']:.0f} | {med['dicom folder'] / med['tiff']:.2f}x |", flush=True)
    if not a.keep:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
