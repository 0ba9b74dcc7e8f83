# 3DHistech MIRAX slides against OpenSlide 3.4.1 (python3-openslide, the oracle), on slides written
# by scripts/gen_mirax.py as the scanners lay them out: the committed fixture
# (tests/fixtures/slides/mirax/) and variants made here covering each way OpenSlide places the
# photos (stored positions, zlib-compressed ones, the nominal grid with and without overlap), 1, 2
# and 4 images per photo side, 2 to 4 zoom levels (concatenation factors 1 and 2, records over
# several pages), images not a whole number of tiles, and JPEG, PNG and BMP24 images. `deepslide info`
# must give OpenSlide's levels and every property (the quickhash aside), the associated images
# pixel for pixel, and `read-region` the same pixels inside each level: exact where the photos sit
# on whole pixels of the level, within pixman's rounding (3) where a level divides their positions
# into fractions. Damaged and hostile slides fail with one line naming the file at fault, exit 2.
# `split` lists .mrxs slides and `--materialize copy|link` takes their folders along.
import os
import random
import shutil
import subprocess
import sys
import tempfile

import io
import json
import struct
import time

import openslide
from PIL import Image

import test_slide_formats as formats

sys.path.insert(0, os.path.join(formats.SRC, "scripts"))
import gen_mirax  # noqa: E402

# (name, make_mirax arguments, tolerance): whole-pixel positions compare exactly.
VARIANTS = [
    ("stitching_whole", dict(overlap=(8, 4), jitter=0, positions="stitching"), 0),
    ("grid_one_image", dict(divisions=1, overlap=(0, 0), jitter=0, positions="grid", cols=5, rows=4), 0),
    ("grid_overlap", dict(divisions=2, overlap=(6, 4), jitter=0, positions="grid", levels=2), 0),
    ("grid_2x2", dict(divisions=2, overlap=(0, 0), jitter=0, positions="grid", levels=4, cols=4, rows=3), 0),
    ("four_per_side", dict(divisions=4, image=(64, 48), cols=3, rows=2, levels=4, overlap=(5, 3), jitter=3,
                           positions="stitching"), 3),
    # 95 x 63 images hold 2 x 2 tiles of 47.5 x 31.5 px at level 1: OpenSlide cuts them at the fraction.
    ("odd_size", dict(divisions=1, image=(95, 63), cols=5, rows=4, levels=3), 3),
    # Levels 1 and 2 a half and an eighth (IMAGE_CONCAT_FACTOR 1, 2), each level's records over three
    # pages read one after the other.
    ("pages_concat", dict(levels=3, concat=(0, 1, 2), pages=3, cols=4, rows=4), 3),
    # Six levels of photos of 4 x 4 images: level 5's tiles are 8 x 6 px, a hundred in 64 x 64 px
    # (a cap on images per place once refused such a slide).
    ("six_levels", dict(divisions=4, image=(64, 48), cols=9, rows=12, levels=6, overlap=(6, 4), jitter=2), 3),
    ("png", dict(fmt="PNG", levels=2), 3),
    ("bmp", dict(fmt="BMP24", levels=2, jitter=0, overlap=(8, 4)), 0),
]


def rewrite(path, old, new):
    with open(path, "rb") as f:
        data = f.read()
    assert old in data, (path, old)
    with open(path, "wb") as f:
        f.write(data.replace(old, new, 1))


def fresh(tmp, name, **kw):
    p = os.path.join(tmp, name + ".mrxs")
    shutil.rmtree(p[:-5], ignore_errors=True)
    gen_mirax.make_mirax(p, **kw)
    return p, p[:-5]


def same_both_ways(path):
    """read-region (above) decodes the images a region needs in part; predict's reads, which come
    back to them, decode them whole and keep them: both must give the same pixels on every level."""
    n = len(json.loads(formats.run("info", path))["levels"])
    for level in range(n):
        sums = {mode: json.loads(formats.run("bench-read", path, "--pattern", "random", "--count", 40, "--level",
                                              level, "--size", 64, "--partial-decode", mode))["checksum"]
                for mode in ("never", "always")}
        assert sums["never"] == sums["always"], (path, level, sums)


def crafted(path, nx, ny, concat, records, divisions=1, image=(8, 8), overlap=(0, 0), positions=None, ini_extra=()):
    """A MIRAX slide written byte by byte, for what gen_mirax.py would never write: `records[k]` is
    zoom level k's list of image numbers (each a tiny JPEG), `positions` raw position bytes."""
    folder = path[:-5]
    os.makedirs(folder, exist_ok=True)
    buf = io.BytesIO()
    Image.new("RGB", image, (200, 120, 160)).save(buf, "JPEG")
    jpeg = buf.getvalue()
    data = bytearray(b"\0" * 16 + jpeg)
    nonhier = []
    if positions is not None:
        nonhier.append(("VIMSLIDE_POSITION_BUFFER", len(data), len(positions)))
        data += positions
    index = bytearray(b"01.02" + b"id")
    index += struct.pack("<ii", len(index) + 8, len(index) + 8 + 4 * len(records))
    tables = len(index)
    index += bytes(4 * (len(records) + len(nonhier)))
    for k, recs in enumerate(records):
        struct.pack_into("<i", index, tables + 4 * k, len(index))
        index += struct.pack("<iiii", 0, len(index) + 8, len(recs), 0)
        index += b"".join(struct.pack("<iiii", r, 16, len(jpeg), 0) for r in recs)
    for n, (_, off, size) in enumerate(nonhier):
        struct.pack_into("<i", index, tables + 4 * (len(records) + n), len(index))
        index += struct.pack("<iiii", 0, len(index) + 8, 1, 0) + struct.pack("<iiiii", 0, 0, off, size, 0)
    ini = ["[GENERAL]", "SLIDE_ID=id", f"IMAGENUMBER_X={nx}", f"IMAGENUMBER_Y={ny}", "OBJECTIVE_MAGNIFICATION=20",
           f"CameraImageDivisionsPerSide={divisions}", "[HIERARCHICAL]", "HIER_COUNT=1",
           "HIER_0_NAME=Slide zoom level", f"HIER_0_COUNT={len(records)}"]
    ini += [f"HIER_0_VAL_{k}_SECTION=L{k}" for k in range(len(records))]
    ini += [f"NONHIER_COUNT={len(nonhier)}"]
    for i, (name, _, _) in enumerate(nonhier):
        ini += [f"NONHIER_{i}_NAME={name}", f"NONHIER_{i}_COUNT=1"]
    ini += [*ini_extra, "INDEXFILE=Index.dat", "[DATAFILE]", "FILE_COUNT=1", "FILE_0=Data0000.dat"]
    for k, c in enumerate(concat):
        ini += [f"[L{k}]", f"OVERLAP_X={overlap[0]}", f"OVERLAP_Y={overlap[1]}", "MICROMETER_PER_PIXEL_X=0.25",
                "MICROMETER_PER_PIXEL_Y=0.25", "IMAGE_FORMAT=JPEG", "IMAGE_FILL_COLOR_BGR=16777215",
                f"DIGITIZER_WIDTH={image[0]}", f"DIGITIZER_HEIGHT={image[1]}", f"IMAGE_CONCAT_FACTOR={c}"]
    open(os.path.join(folder, "Slidedat.ini"), "w").write("\n".join(ini) + "\n")
    open(os.path.join(folder, "Index.dat"), "wb").write(index)
    open(os.path.join(folder, "Data0000.dat"), "wb").write(data)
    open(path, "wb").close()
    return path


def hostile(tmp):
    """Tiny slides that once made the reader hang or allocate without bound: each opens in well
    under a second (or is refused), whatever its numbers say."""
    def quick(path, *words):
        t0 = time.time()
        p = subprocess.run([formats.DEEPSLIDE, "info", path], capture_output=True, text=True, timeout=60)
        took = time.time() - t0
        assert took < 10, (path, took)
        if words:
            assert p.returncode == 2 and all(w in p.stderr for w in words), (path, p.returncode, p.stderr)
        else:
            assert p.returncode == 0, (path, p.stderr)
        return took
    # A level whose images hold 2^16 x 2^16 photos each: its images are checked against the photos
    # drawn at level 0 by prefix sums, a row at a time, not photo by photo (2^32 checks).
    quick(crafted(os.path.join(tmp, "h_block.mrxs"), 1 << 20, 4, [0, 16], [[0], [0]], image=(1, 16384)))
    # One image listed 200000 times: its tiles are made once.
    quick(crafted(os.path.join(tmp, "h_repeat.mrxs"), 64, 64, [0, 5], [[0], [0] * 200000], image=(8, 8),
                  overlap=(1, 0)))
    # 100 photos stored at one place: refused, not decoded 100 times per read.
    stack = b"".join(struct.pack("<Bii", 1, 10, 10) for _ in range(100))
    quick(crafted(os.path.join(tmp, "h_stack.mrxs"), 10, 10, [0], [list(range(100))], positions=stack),
          "overlap at one place")
    # 16384 NONHIER entries of 65536 values each (a billion records), named in 600 KB.
    quick(crafted(os.path.join(tmp, "h_nonhier.mrxs"), 2, 2, [0], [[0, 1, 2, 3]],
                  ini_extra=["NONHIER_COUNT=16384"] + [f"NONHIER_{i}_NAME=x{i}\nNONHIER_{i}_COUNT=65536"
                                                       for i in range(16384)]))
    quick(crafted(os.path.join(tmp, "h_overlap.mrxs"), 2, 2, [0], [[0]], overlap=(1e300, 0)), "OVERLAP_X")
    quick(crafted(os.path.join(tmp, "h_photos.mrxs"), 1 << 13, 1 << 13, [0], [[0]], image=(1, 1)), "photos")
    flags = b"".join(struct.pack("<Bii", 2, i * 8, 0) for i in range(4))
    quick(crafted(os.path.join(tmp, "h_flag.mrxs"), 4, 1, [0], [[0, 1, 2, 3]], positions=flags), "flag 2")
    print("mirax: 7 hostile slides opened quickly or refused", flush=True)


def bad_inputs(tmp):
    """Each damage on a fresh slide: the error names the file at fault."""
    def ini(folder):
        return os.path.join(folder, "Slidedat.ini")

    p, d = fresh(tmp, "folder_named")  # the folder, not the .mrxs: told which file to open
    formats.expect_error(["info", d], d, "folder_named.mrxs")
    p, d = fresh(tmp, "bad_version")
    rewrite(os.path.join(d, "Index.dat"), b"01.02", b"01.01")
    formats.expect_error(["info", p], os.path.join(d, "Index.dat"), "version")
    p, d = fresh(tmp, "bad_id")
    rewrite(ini(d), b"SLIDE_ID=5b0a", b"SLIDE_ID=6b0a")
    formats.expect_error(["info", p], os.path.join(d, "Index.dat"), "another slide")
    p, d = fresh(tmp, "escape")
    rewrite(ini(d), b"FILE_0=Data0000.dat", b"FILE_0=../../../etc/passwd")
    formats.expect_error(["info", p], ini(d), "not a file name in the slide's folder")
    p, d = fresh(tmp, "truncated_data")
    with open(os.path.join(d, "Data0000.dat"), "r+b") as f:
        f.truncate(5000)
    formats.expect_error(["info", p], os.path.join(d, "Data0000.dat"), "past the end")
    p, d = fresh(tmp, "missing_data")
    os.remove(os.path.join(d, "Data0001.dat"))
    formats.expect_error(["info", p], os.path.join(d, "Data0001.dat"), "missing")
    p, d = fresh(tmp, "truncated_index")
    with open(os.path.join(d, "Index.dat"), "r+b") as f:
        f.truncate(60)
    formats.expect_error(["info", p], os.path.join(d, "Index.dat"), "past the end")
    p, d = fresh(tmp, "positions_short")
    rewrite(ini(d), b"IMAGENUMBER_X=6", b"IMAGENUMBER_X=8")
    formats.expect_error(["info", p], os.path.join(d, "Index.dat"), "VIMSLIDE_POSITION_BUFFER")
    p, d = fresh(tmp, "positions_corrupt", positions="stitching")
    data = bytearray(open(os.path.join(d, "Data0001.dat"), "rb").read())
    data[-20:] = bytes(20)  # the end of the zlib stream
    open(os.path.join(d, "Data0001.dat"), "wb").write(data)
    formats.expect_error(["info", p], os.path.join(d, "Data0001.dat"), "StitchingIntensityLayer")
    p, d = fresh(tmp, "huge_grid")
    rewrite(ini(d), b"IMAGENUMBER_X=6", b"IMAGENUMBER_X=2000000000")
    formats.expect_error(["info", p], ini(d), "IMAGENUMBER_X")
    p, d = fresh(tmp, "malformed_ini")
    rewrite(ini(d), b"[DATAFILE]", b"[DATAFILE]\r\nthis line is no key")
    formats.expect_error(["info", p], ini(d), "line")
    p, d = fresh(tmp, "no_levels")
    rewrite(ini(d), b"HIER_0_NAME=Slide zoom level", b"HIER_0_NAME=Slide filter level")
    formats.expect_error(["info", p], ini(d), "Slide zoom level")
    # A stored image of another size than the slide says: found when it is drawn, named.
    p, d = fresh(tmp, "wrong_size")
    rewrite(ini(d), b"DIGITIZER_WIDTH=96", b"DIGITIZER_WIDTH=95")
    formats.expect_error(["read-region", p, "--x", 100, "--y", 100, "--width", 50, "--height", 50,
                          "--out", os.path.join(tmp, "w.png")], os.path.join(d, "Data0000.dat"), "96x64")
    p, d = fresh(tmp, "corrupt_jpeg", jitter=0)
    data = bytearray(open(os.path.join(d, "Data0000.dat"), "rb").read())
    first = data.index(b"\xff\xd8\xff")
    sos = data.index(b"\xff\xda", first)
    data[sos + 40:sos + 400] = bytes(range(256)) + bytes(range(104))
    open(os.path.join(d, "Data0000.dat"), "wb").write(data)
    # Decoded whole, libjpeg's complaint about the damage is the error; decoded in part (the
    # region's rows only) the damage may pass as odd pixels, but never as a crash.
    formats.expect_error(["bench-read", p, "--pattern", "aligned", "--count", 5, "--partial-decode", "never"],
                         os.path.join(d, "Data0000.dat"), "corrupt JPEG")
    q = subprocess.run([formats.DEEPSLIDE, "read-region", p, "--x", "0", "--y", "0", "--width", "300", "--height", "200",
                        "--out", os.path.join(tmp, "c.png")], capture_output=True, text=True)
    assert q.returncode in (0, 2), (q.returncode, q.stderr)
    print("mirax: 13 damaged slides and a slide's folder refused with one line naming the file", flush=True)


def split_lists_mirax(tmp):
    """split takes .mrxs slides (and NDPI's), and copies or links a .mrxs's folder with it."""
    wsi = os.path.join(tmp, "wsi")
    for cls in ("a", "b"):
        for i in range(3):
            gen_mirax.make_mirax(os.path.join(wsi, cls, f"s{i}.mrxs"), levels=1, seed=i, associated=False)
    out = os.path.join(tmp, "split")
    for how in ("copy", "link"):
        shutil.rmtree(out, ignore_errors=True)
        formats.run("split", "--all-wsi", wsi, "--out", out, "--val-per-class", 1, "--test-per-class", 1,
                    "--materialize", how)
        rows = open(os.path.join(out, "labels_test.csv")).read().splitlines()[1:]
        assert len(rows) == 2 and all(r.split(",")[0].endswith(".mrxs") for r in rows), rows
        for r in rows:
            slide = os.path.join(out, "wsi_test", r.split(",")[0])
            assert os.path.isdir(slide[:-5]) and (os.path.islink(slide[:-5]) == (how == "link")), (how, slide)
            assert openslide.OpenSlide(slide).dimensions == openslide.OpenSlide(
                os.path.join(wsi, r.split(",")[0])).dimensions
            formats.run("info", slide)
    print("mirax: split lists .mrxs slides; --materialize copy and link take their folders", flush=True)


def main():
    tmp = tempfile.mkdtemp(prefix="ds_mirax_")
    try:
        rng = random.Random(23)
        fx = os.path.join(formats.FIXTURES, "slides", "mirax", "mirax.mrxs")
        assert openslide.OpenSlide.detect_format(fx) == "mirax"
        formats.check_file(fx, "mirax", tmp, rng, regions=5, tolerance=3, inside_level=True)
        for name, kw, tolerance in VARIANTS:
            p, _ = fresh(tmp, name, **kw)
            assert openslide.OpenSlide.detect_format(p) == "mirax", p
            formats.check_file(p, "mirax", tmp, rng, regions=3, tolerance=tolerance, inside_level=True)
            same_both_ways(p)
        bad_inputs(tmp)
        hostile(tmp)
        split_lists_mirax(tmp)
        print("mirax: all equal to OpenSlide's (exact on whole-pixel positions, else within pixman's rounding)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
