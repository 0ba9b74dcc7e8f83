"""Writes the fuzz seed corpora, tests/fuzz/seeds/<target>/, one folder per tests/fuzz/fuzz_<target>.cpp.

    /usr/bin/python3 tests/fuzz/make_seeds.py [SEEDS_DIR]     (default: tests/fuzz/seeds)

The output is committed, so neither CI nor `make fuzz` runs this; run it again after changing it
and commit what changes. Every file is small (the whole set stays well under 1 MB). Sources:
vips (tiled and stripped TIFF, BigTIFF, SubIFD pyramids, LZW, Deflate), PIL (baseline,
progressive, greyscale and restart-marker JPEGs, PNG), a small TIFF assembler here (Aperio SVS
layout with thumbnail, label and macro; tiles as abbreviated JPEGs sharing JPEGTables;
progressive JPEG tiles), the vendor generators scripts/gen_*.py (Aperio JPEG 2000, NDPI, OME-TIFF,
Philips, Ventana, Leica) at seed size, jpegtran (restart markers), the crafted hostile files of
tests/hostile_files.py (at seed size), hand-written CSV, JSON, TOML, annotation (GeoJSON, ASAP and
Aperio XML) and safetensors text, and tests/fixtures/annotations/'s Aperio file. Regression inputs (a finding's crashing input)
are committed next to these as regress_*, and this script leaves them alone.
"""
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts"))
import gen_dicom  # noqa: E402  (scripts/gen_*.py: the vendor formats' writers, at seed size)
import gen_leica  # noqa: E402
import gen_mirax  # noqa: E402
import gen_ndpi  # noqa: E402
import gen_ome_tiff  # noqa: E402
import gen_philips  # noqa: E402
import gen_svs_jp2k  # noqa: E402
import gen_ventana  # noqa: E402
import hostile_files  # noqa: E402  (tests/hostile_files.py)

TARGETS = ["slide", "mirax", "jpeg", "model", "csv", "json", "config", "annotations"]


def tissue(w, h, seed=0):
    """A smooth pink-and-purple image with a little noise: real-looking enough, small as JPEG."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 200 + 40 * np.sin(x / 9.0) * np.cos(y / 7.0)
    g = 120 + 60 * np.cos((x + y) / 11.0)
    b = 190 + 30 * np.sin(y / 5.0)
    img = np.stack([r, g, b], -1) + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def jpeg_bytes(img, **kw):
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def jpeg_segments(data):
    """[(marker, segment bytes including the marker)] up to SOS; then ('scan', the rest)."""
    segs, i = [], 2
    while i < len(data):
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        seg = data[i:i + 2 + length]
        if marker == 0xDA:
            segs.append((marker, data[i:]))
            break
        segs.append((marker, seg))
        i += 2 + length
    return segs


def split_tables(data):
    """A complete JPEG as TIFF stores it with shared tables: (JPEGTables, abbreviated tile)."""
    segs = jpeg_segments(data)
    tables = b"\xff\xd8" + b"".join(s for m, s in segs if m in (0xDB, 0xC4)) + b"\xff\xd9"
    tile = b"\xff\xd8" + b"".join(s for m, s in segs if m not in (0xDB, 0xC4) and not 0xE0 <= m <= 0xEF)
    return tables, tile


# ---- a little TIFF assembler: IFDs of (tag -> (type, values)) plus strip/tile data ----
BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED = 1, 2, 3, 4, 5, 7


def tiff(ifds):
    """ifds: list of (tags, chunks); tags maps tag -> (type, values), chunks the strip or tile
    bytes, whose offsets and byte counts (tags 273/279 or 324/325 by the presence of 322) are
    filled in here. Little-endian classic TIFF, directories chained in order."""
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    layouts = []
    for tags, chunks in ifds:
        offs = []
        for c in chunks:
            offs.append(len(out))
            out += c
            if len(out) % 2:
                out += b"\x00"
        tags = dict(tags)
        tiled = 322 in tags
        tags[324 if tiled else 273] = (LONG, offs)
        tags[325 if tiled else 279] = (LONG, [len(c) for c in chunks])
        layouts.append(tags)
    prev_next = 4
    for tags in layouts:
        ifd_pos = len(out) + (len(out) % 2)
        out += b"\x00" * (ifd_pos - len(out))
        struct.pack_into("<I", out, prev_next, ifd_pos)
        n = len(tags)
        extra_pos = ifd_pos + 2 + 12 * n + 4
        entries, extra = b"", bytearray()
        for tag in sorted(tags):
            typ, vals = tags[tag]
            if typ == ASCII:
                raw, count = vals.encode() + b"\x00", len(vals) + 1
            elif typ in (BYTE, UNDEFINED):
                raw, count = bytes(vals), len(vals)
            elif typ == SHORT:
                raw, count = struct.pack("<%dH" % len(vals), *vals), len(vals)
            elif typ == LONG:
                raw, count = struct.pack("<%dI" % len(vals), *vals), len(vals)
            else:  # RATIONAL: values as (num, den) pairs
                raw, count = b"".join(struct.pack("<II", a, b) for a, b in vals), len(vals)
            if len(raw) <= 4:
                entries += struct.pack("<HHI", tag, typ, count) + raw.ljust(4, b"\x00")
            else:
                entries += struct.pack("<HHII", tag, typ, count, extra_pos + len(extra))
                extra += raw + (b"\x00" if len(raw) % 2 else b"")
        out += struct.pack("<H", n) + entries
        prev_next = len(out)
        out += b"\x00\x00\x00\x00" + extra
    return bytes(out)


def rgb_tags(w, h, compression, photometric=2, description=None, subfile=0):
    tags = {254: (LONG, [subfile]), 256: (LONG, [w]), 257: (LONG, [h]), 258: (SHORT, [8, 8, 8]),
            259: (SHORT, [compression]), 262: (SHORT, [photometric]), 277: (SHORT, [3]),
            284: (SHORT, [1])}
    if description is not None:
        tags[270] = (ASCII, description)
    return tags


def tiled_jpeg_ifd(img, tile, description=None, progressive=False, tables=True, subfile=0, q=70):
    """A level of JPEG tiles (YCbCr): abbreviated tiles + JPEGTables, or complete JPEG tiles."""
    w, h = img.size
    tags = rgb_tags(w, h, 7, 6, description, subfile)
    tags[322], tags[323] = (LONG, [tile]), (LONG, [tile])
    tags[530] = (SHORT, [2, 2])
    chunks, shared = [], None
    for ty in range(0, h, tile):
        for tx in range(0, w, tile):
            piece = Image.new("RGB", (tile, tile), (255, 255, 255))
            piece.paste(img.crop((tx, ty, min(tx + tile, w), min(ty + tile, h))), (0, 0))
            data = jpeg_bytes(piece, quality=q, progressive=progressive, subsampling=2)
            if tables and not progressive:
                shared, data = split_tables(data)
            chunks.append(data)
    if shared:
        tags[347] = (UNDEFINED, list(shared))
    return tags, chunks


def stripped_ifd(img, compression, description=None, subfile=0):
    w, h = img.size
    if compression == 7:
        tags = rgb_tags(w, h, 7, 6, description, subfile)
        tags[278] = (LONG, [h])
        tags[530] = (SHORT, [2, 2])
        return tags, [jpeg_bytes(img, quality=70, subsampling=2)]
    tags = rgb_tags(w, h, 1, 2, description, subfile)
    tags[278] = (LONG, [h])
    return tags, [img.tobytes()]


def aperio_svs():
    """Aperio's layout: tiled level 0, stripped thumbnail, tiled level 1, then label and macro
    (each recognised by its ImageDescription), as OpenSlide reads it."""
    base = tissue(96, 64, 1)
    head = "Aperio Image Library v12.0.15 \r\n96x64 [0,0 96x64] (32x32) JPEG/YCC Q=70"
    desc = head + "|AppMag = 20|StripeWidth = 1000|MPP = 0.4990|Date = 01/02/21|ScanScope ID = SS1234"
    return tiff([
        tiled_jpeg_ifd(base, 32, desc),
        stripped_ifd(base.resize((24, 16)), 7, head + " -> 24x16 - |AppMag = 20|MPP = 0.4990"),
        tiled_jpeg_ifd(base.resize((48, 32)), 32, head + " -> 48x32 - |AppMag = 20|MPP = 0.4990"),
        stripped_ifd(tissue(20, 10, 2), 1, "Aperio Image Library v12.0.15 \nlabel 20x10", subfile=1),
        stripped_ifd(tissue(32, 16, 3), 7, "Aperio Image Library v12.0.15 \nmacro 32x16", subfile=9),
    ])


def progressive_tiles():
    """A two-level pyramid whose tiles are complete progressive JPEGs (no JPEGTables)."""
    base = tissue(64, 48, 4)
    return tiff([tiled_jpeg_ifd(base, 32, progressive=True),
                 tiled_jpeg_ifd(base.resize((32, 24)), 32, progressive=True, subfile=1)])


def dicom_seeds(d, tmp):
    """DICOM WSI instances (scripts/gen_dicom.py, one level each): JPEG TILED_FULL, TILED_SPARSE
    with a tile left out, JPEG 2000, uncompressed, and a concatenation part."""
    cases = {"dicom_jpeg.dcm": dict(), "dicom_sparse.dcm": dict(sparse=True, drop_tile=True),
             "dicom_jp2k.dcm": dict(codec="jpeg2000"), "dicom_native.dcm": dict(codec="native", tile=16, width=48,
                                                                               height=32)}
    for name, kw in cases.items():
        out = os.path.join(tmp, name)
        kw = {"width": 160, "height": 144, "tile": 64, **kw}
        gen_dicom.write_series(out, single_file=True, **kw)
        shutil.copy(os.path.join(out, "level0.dcm"), os.path.join(d, name))
    out = os.path.join(tmp, "concat")
    gen_dicom.write_series(out, width=160, height=144, tile=64, concatenate=2)
    shutil.copy(os.path.join(out, "level0_part2.dcm"), os.path.join(d, "dicom_concat_part.dcm"))


def slide_seeds(d, tmp):
    img = tissue(80, 56, 5)
    png = os.path.join(tmp, "s.png")
    img.save(png)
    img.save(os.path.join(d, "image.png"))
    img.save(os.path.join(d, "image.jpg"), quality=60)
    vips = [("vips_jpeg.tif", ["--compression", "jpeg", "--Q", "60"]),
            ("vips_lzw.tif", ["--compression", "lzw"]),
            ("vips_deflate_bigtiff.tif", ["--compression", "deflate", "--bigtiff"]),
            ("vips_jpeg_bigtiff.tif", ["--compression", "jpeg", "--Q", "60", "--bigtiff"]),
            ("vips_subifd.tif", ["--compression", "jpeg", "--Q", "60", "--subifd"])]
    for name, opts in vips:
        subprocess.run(["vips", "tiffsave", png, os.path.join(d, name), "--tile", "--pyramid",
                        "--tile-width", "16", "--tile-height", "16", "--strip", *opts], check=True)
    subprocess.run(["vips", "tiffsave", png, os.path.join(d, "vips_strip_lzw.tif"), "--compression", "lzw",
                    "--strip"], check=True)
    # Tiles of several MCU rows and columns, so partial reads cut JPEG tiles (jpeg_crop).
    big = os.path.join(tmp, "big.png")
    tissue(160, 128, 6).save(big)
    subprocess.run(["vips", "tiffsave", big, os.path.join(d, "vips_jpeg_tile128.tif"), "--tile", "--compression",
                    "jpeg", "--Q", "50", "--tile-width", "128", "--tile-height", "128", "--strip"], check=True)
    with open(os.path.join(d, "aperio.svs"), "wb") as f:
        f.write(aperio_svs())
    with open(os.path.join(d, "progressive_tiles.tif"), "wb") as f:
        f.write(progressive_tiles())
    # The vendor formats' generators (scripts/gen_*.py) at seed size.
    gen_svs_jp2k.make_svs(os.path.join(d, "aperio_jp2k.svs"), 260, 200, 33003, levels=2, rate=60,
                          label_size=(24, 20), macro_size=(40, 16))
    gen_ndpi.make_ndpi(os.path.join(d, "hamamatsu.ndpi"), 128, 96, levels=2, quality=50, macro_size=(64, 24))
    ome = os.path.join(d, "pyramid.ome.tif")
    gen_ome_tiff.make_ome(ome, 72, 56, levels=2, tile=32)
    with open(ome, "rb") as f:  # tifffile's OME-XML has a fresh UUID each time: fix it, same length
        data = re.sub(rb"urn:uuid:[0-9a-fA-F-]{36}", b"urn:uuid:" + b"0" * 8 + b"-0000" * 3 + b"-" + b"0" * 12, f.read())
    with open(ome, "wb") as f:
        f.write(data)
    gen_philips.make_philips(os.path.join(d, "philips.tiff"), 200, 140, levels=2, tile=64, seed=4)
    gen_leica.make_leica(os.path.join(d, "leica.scn"), tile=32, nm=5000, levels=2, quality=40, macro_size=(40, 24))
    gen_ventana.make_ventana(os.path.join(d, "ventana.bif"), cols=3, rows=2, tile=32, levels=2,
                             areas=((0, 0, 2, 2),), macro_size=(40, 16))
    gen_ventana.make_ventana(os.path.join(d, "ventana_overlap.bif"), cols=3, rows=2, tile=32, levels=2,
                             areas=((0, 0, 2, 2),), macro_size=(40, 16), overlap=(3, 2))
    dicom_seeds(d, tmp)
    # The crafted hostile files, at seed size (tests/hostile_files.py).
    t = hostile_files.Tiff()
    t.add(hostile_files.rgb_tiled(1024, 16))
    for _ in range(3):
        tags = hostile_files.rgb_tiled(1024, 16, [0], [0])
        tags[324] = ("shared", ((0, 324), 4096))
        tags[325] = ("shared", ((0, 325), 4096))
        t.add(tags)
    hostile = {"hostile_short_offset_chain.tif": hostile_files.short_offset_chain(12),
               "hostile_shared_offset_arrays.tif": t.bytes(),
               "hostile_huge_side.tif": hostile_files.huge_side(),
               "hostile_subifd_storm.tif": hostile_files.subifd_storm()}
    for name, data in hostile.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def mirax_seeds(d, tmp):
    """scripts/gen_mirax.py slides packed as fuzz_mirax.cpp reads them: the lengths of Slidedat.ini,
    Index.dat and Data0000.dat, those files, then Data0001.dat."""
    variants = {"buffer_jpeg": dict(), "stitching": dict(positions="stitching", jitter=0, overlap=(8, 4)),
                "grid_png": dict(divisions=1, overlap=(0, 0), positions="grid", fmt="PNG", levels=2),
                "four_bmp": dict(divisions=4, image=(16, 12), cols=2, rows=1, levels=3, fmt="BMP24")}
    for name, kw in variants.items():
        kw = dict(dict(cols=2, rows=2, image=(24, 16), levels=2), **kw)
        p = os.path.join(tmp, name + ".mrxs")
        gen_mirax.make_mirax(p, **kw)
        parts = [open(os.path.join(p[:-5], f), "rb").read()
                 for f in ("Slidedat.ini", "Index.dat", "Data0000.dat", "Data0001.dat")]
        with open(os.path.join(d, name), "wb") as f:
            f.write(struct.pack("<III", *map(len, parts[:3])) + b"".join(parts))


def jpeg_seed(data, tables=None, color=1, extra=0, region=(40, 60, 200, 180)):
    """The fuzz_jpeg input layout (see tests/fuzz/fuzz_jpeg.cpp)."""
    head = bytes([(1 if tables is not None else 0) | (color << 1), extra, *region])
    if tables is not None:
        head += struct.pack("<H", len(tables)) + tables
    return head + data


def vips_tile(tif):
    """Tile 0 of a vips (libtiff) JPEG TIFF and its JPEGTables, as the slide reader gets them."""
    with Image.open(tif) as im:
        tables = bytes(im.tag_v2[347])
        off, cnt = im.tag_v2[324][0], im.tag_v2[325][0]
    with open(tif, "rb") as f:
        f.seek(off)
        return tables, f.read(cnt)


def jpeg_seeds(d, slide_dir):
    img = tissue(64, 48, 7)
    seeds = {
        "baseline_420.bin": jpeg_seed(jpeg_bytes(img, quality=60, subsampling=2)),
        "baseline_444_rgbtile.bin": jpeg_seed(jpeg_bytes(img, quality=60, subsampling=0), extra=0x53),
        "baseline_422.bin": jpeg_seed(jpeg_bytes(img, quality=60, subsampling=1), region=(0, 0, 255, 255)),
        "progressive.bin": jpeg_seed(jpeg_bytes(img, quality=60, progressive=True)),
        "grey.bin": jpeg_seed(jpeg_bytes(img.convert("L"), quality=60), color=3),
        "grey_as_ycbcr.bin": jpeg_seed(jpeg_bytes(img.convert("L"), quality=60), color=1),
        "auto_colour.bin": jpeg_seed(jpeg_bytes(img, quality=60), color=0, region=(100, 100, 101, 101)),
        "restart_markers.bin": jpeg_seed(_with_restarts(img)),
        # One restart interval per MCU row, as in NDPI: crop_jpeg cuts it from its markers.
        "restart_rows.bin": jpeg_seed(_with_restarts(tissue(160, 48, 9), per="1"), region=(150, 20, 250, 200)),
        # The colour space left to the JPEG (as NDPI's): 4:2:2 and 4:4:4 go through the baseline
        # fast decoder (slide/reader/jpeg_fast_decode.h), checked against libjpeg's full decode.
        "fast_422_restart_rows.bin": jpeg_seed(_with_restarts(tissue(160, 48, 9), per="1", subsampling=1), color=0,
                                               region=(70, 20, 250, 200)),
        "fast_444.bin": jpeg_seed(jpeg_bytes(img, quality=90, subsampling=0), color=0, region=(0, 0, 255, 255)),
    }
    tables, tile = split_tables(jpeg_bytes(tissue(128, 64, 8), quality=50, subsampling=2))
    seeds["tables_abbreviated.bin"] = jpeg_seed(tile, tables=tables, region=(130, 20, 250, 90))
    seeds["tables_abbreviated_edge.bin"] = jpeg_seed(tile, tables=tables, extra=0x22, region=(0, 200, 30, 255))
    tables, tile = vips_tile(os.path.join(slide_dir, "vips_jpeg_tile128.tif"))
    seeds["vips_tile128_tables.bin"] = jpeg_seed(tile, tables=tables, region=(70, 70, 120, 160))
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def _with_restarts(img, per="1B", subsampling=2):
    """A JPEG with a restart marker every MCU (jpegtran, libjpeg-turbo-progs): crop_jpeg must
    refuse it and leave it to the full decode; per="1": every MCU row, which it cuts."""
    return subprocess.run(["jpegtran", "-restart", per], input=jpeg_bytes(img, quality=60, subsampling=subsampling),
                          capture_output=True, check=True).stdout


def safetensors(tensors, metadata=None, raw_header=None, pad=True):
    """tensors: [(name, dtype, shape, bytes)]; returns the file bytes."""
    header, off, data = {}, 0, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        data += raw
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def model_seeds(d):
    meta = {"format": "deepslide-model", "version": "1", "arch": "resnet18", "classes": '["a", "b", "c"]',
            "mean": "[0.485, 0.456, 0.406]", "std": "[0.229, 0.224, 0.225]", "patch_size": "224"}
    f32 = lambda n, v=0.5: struct.pack("<%df" % n, *([v] * n))  # noqa: E731
    fc = [("fc.weight", "F32", [3, 512], f32(3 * 512, 0.01)), ("fc.bias", "F32", [3], f32(3))]
    state_meta = {"format": "deepslide-train-state", "version": "1", "model_file": "m.safetensors",
                  "model_hash": "0123456789abcdef", "epochs_done": "2", "batch": "5", "sched_epoch": "2",
                  "loss_sum": "3.25", "correct": "7", "seen": "9", "epoch_seconds": "1.5", "best_epoch": "2",
                  "best_val_acc": "0.75", "best_path": "resnet18_e2_va0.750.safetensors",
                  "log_csv": "epoch,train_loss\n1,0.5\n", "unreadable": "a.svs\tx=0 y=0\tcorrupt tile\n",
                  "optimizer": "adam", "optimizer_step": "12", "optimizer_lr": "0.001",
                  "config.--epochs": "20", "config.--arch": "resnet18"}
    seeds = {
        "model_fc_only.safetensors": safetensors(fc, meta),
        "model_f16_bf16_f64.safetensors": safetensors(
            [("fc.weight", "F16", [3, 2], b"\x00\x3c" * 6), ("fc.bias", "BF16", [3], b"\x80\x3f" * 3),
             ("conv1.weight", "F64", [1, 1, 1, 1], struct.pack("<d", 0.25)),
             ("bn1.num_batches_tracked", "I64", [], struct.pack("<q", 7))], dict(meta, classes='["x", "y", "z"]')),
        "model_no_metadata.safetensors": safetensors(fc),
        "model_bad_classes.safetensors": safetensors([], dict(meta, classes='["a", "a"]', patch_size="8")),
        "model_resnet50.safetensors": safetensors(
            [("fc.weight", "F32", [2, 4], f32(8))], dict(meta, arch="resnet50", classes='["n", "t"]')),
        "state.safetensors": safetensors(
            [("exp_avg.conv1.weight", "F32", [2, 1, 1, 2], f32(4)), ("exp_avg_sq.fc.bias", "F32", [3], f32(3))],
            state_meta),
        "empty_header.safetensors": safetensors([], raw_header=b"{}"),
    }
    deep = "[" * 200 + "]" * 200
    seeds["deep_json_metadata.safetensors"] = safetensors([], dict(meta, classes=deep))
    bundle_meta = dict(meta, bundle="1", recipe_level="1", recipe_mpp="0", recipe_overlap="1.5",
                       recipe_tissue="otsu", recipe_purple_threshold="100", recipe_purple_scale="15",
                       recipe_otsu_min_fraction="0.5",
                       recipe_aggregator=json.dumps({"method": "logistic", "classes": ["a", "b", "c"], "lambda": 1,
                                                     "weights": [[0.5] * 6] * 3, "bias": [0, 1, 2]}),
                       provenance=json.dumps({"deepslide_version": "0.1.0", "created": "2026-01-01T00:00:00Z"}))
    seeds["bundle_fc_only.safetensors"] = safetensors(fc, bundle_meta)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def text_seeds(d, files):
    for name, text in files.items():
        with open(os.path.join(d, name), "w", newline="") as f:
            f.write(text)


CSV = {
    "labels.csv": "img,gt\na/s1.svs,a\nb/s2.tif,b\nc/s3.svs, c \n",
    "labels_bom_crlf.csv": "\ufeffimg, gt\r\ns1.svs,a\r\n\r\ns2.svs,b\r\n",
    "predictions.csv": ("x,y,prediction,confidence,prob_a,prob_b,prob_c\n"
                        "0,0,a,0.7,0.7,0.2,0.1\n224,0,b,0.5,0.25,0.5,0.25\n448,224,c,0.9,0.05,0.05,0.9\n"),
    "predictions_two_crlf.csv": "x,y,prediction,confidence,prob_n,prob_t\r\n10,20,t,0.6,0.4,0.6\r\n",
    "predictions_header_only.csv": "x,y,prediction,confidence,prob_n,prob_t\n",
    "predictions_exponents.csv": "x,y,prediction,confidence,prob_a,prob_b\n1e3,2.5e2,a,5e-1,0.5,0.5\n",
}

JSON = {
    "aggregator_threshold.json": json.dumps({"method": "threshold", "classes": ["a", "b", "c"],
                                            "thresholds": {"a": 0.4, "b": 0.5, "c": 0.3}}, indent=2),
    "aggregator_logistic.json": json.dumps({
        "method": "logistic", "classes": ["a", "b"], "features": "vote fraction per class, then mean probability",
        "lambda": 0.5, "weights": [[1.0, -1.0, 0.5, 0.25], [-1.0, 1.0, -0.5, 0.0]], "bias": [0.1, -0.1]}),
    "aggregator_majority.json": '{"method": "majority", "classes": ["n", "t"]}',
    "aggregator_mean_probability.json": '{"method": "mean_probability", "classes": ["x", "y", "z"]}',
    "predict.json": json.dumps({"model": "m.safetensors", "classes": ["a", "b"], "patch_size": 224,
                                "overlap": 1.0, "level": 0, "mpp": 0.0,
                                "slides": {"s1": {"window_side": 224, "windows": 12}}}),
    "stamp.json": json.dumps({"commands": [["train", "--epochs", "2"]], "inputs": {"a": {"size": 3, "mtime_ns": 1}},
                              "outputs": {"b": {"files": 2, "bytes": 9, "hash": "0123456789abcdef"}},
                              "seconds": 1.5}),
    "crossval.json": json.dumps({"folds": ["fold0", "fold1", "fold2"], "slides": [2, 2, 3], "metrics": {
        "accuracy": {"values": [0.5, 1.0, None], "n": 2, "mean": 0.75, "sd": 0.35355, "min": 0.5, "max": 1.0},
        "macro_auc": {"values": [None, None, None], "n": 0, "mean": None, "sd": None, "min": None, "max": None}}}),
    "deep.json": "[" * 100 + "]" * 100,
    "strings_with_brackets.json": '{"method": "majority", "classes": ["[[[", "]]\\"{"]}',
}

TOML = {
    "demo.toml": ('workdir = "demo"\n\n[common]\npatch_size = 64\n\n[train]\nepochs = 2\nlr = 0.001\n'
                  'arch = "resnet18"\nforce = true\nseed = 7\n\n[search]\nthresholds = [0.3, 0.5, 0.7]\n'
                  'overlap = 1.5\nmode = "dots"\n'),
    "dotted.toml": 'train.epochs = 3\nsearch."patch-size" = 32\n[common]\nseed = 1\n',
    "inline.toml": "train = { epochs = 1, force = false }\nsearch = { thresholds = ['0.5'] }\n",
    "types.toml": ('[train]\nepochs = 0x10\nlr = 1e-3\nseed = 1_000\narch = """\nresnet18"""\n'
                   "out = 'x'\n# comment\n[search]\nthresholds = [1, 2.5, \"3\"]\noverlap = inf\n"),
    "dates.toml": "[train]\narch = 1979-05-27T07:32:00Z\n[[search]]\nmode = 'x'\n",
}


def _feature(rings, cls=None, kind="Polygon"):
    props = {"objectType": "annotation"}
    if cls:
        props["classification"] = {"name": cls, "color": [255, 0, 0]}
    return {"type": "Feature", "geometry": {"type": kind, "coordinates": rings}, "properties": props}


_SQUARE = [[10, 10], [400, 10], [400, 300], [10, 300], [10, 10]]
_HOLE = [[100, 100], [200, 100], [150, 200], [100, 100]]
with open(os.path.join(os.path.dirname(HERE), "fixtures", "annotations", "aperio_imagescope.xml")) as _f:
    _APERIO_FIXTURE = _f.read()

ANNOTATIONS = {
    "qupath.geojson": json.dumps({"type": "FeatureCollection", "features": [
        _feature([_SQUARE, _HOLE], "tumor"),
        _feature([[[[500, 500], [700, 500], [600, 700], [500, 500]]], [[[800, 100], [900, 100], [850, 200]]]], None,
                 "MultiPolygon"),
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_SQUARE]},
         "properties": {"classification": {"names": ["tumor", "grade 2"]}}}]}),
    "bare_array.geojson": json.dumps([_feature([_SQUARE], "stroma")]),
    "asap.xml": ('<?xml version="1.0"?>\n<ASAP_Annotations>\n<Annotations>\n'
                 '<Annotation Name="A0" Type="Polygon" PartOfGroup="tumor" Color="#F4FA58"><Coordinates>'
                 '<Coordinate Order="1" X="400" Y="10"/><Coordinate Order="0" X="10" Y="10"/>'
                 '<Coordinate Order="2" X="200,5" Y="300"/></Coordinates></Annotation>\n'
                 '<Annotation Name="A1" Type="Rectangle" PartOfGroup="None" Color="#000000"><Coordinates>'
                 '<Coordinate Order="0" X="500" Y="500"/><Coordinate Order="1" X="600" Y="500"/>'
                 '<Coordinate Order="2" X="600" Y="600"/><Coordinate Order="3" X="500" Y="600"/>'
                 "</Coordinates></Annotation>\n</Annotations>\n<AnnotationGroups />\n</ASAP_Annotations>\n"),
    "aperio.xml": _APERIO_FIXTURE,
    "aperio_minimal.xml": ('<Annotations><Annotation Name=""><Regions><Region Id="1" Text="a &amp; b">'
                           '<Vertices><Vertex X="1" Y="1"/><Vertex X="90" Y="1"/><Vertex X="50" Y="80"/></Vertices>'
                           '</Region><Region Id="2" Type="2"><Vertices><Vertex X="300" Y="300"/>'
                           '<Vertex X="500" Y="400"/></Vertices></Region></Regions></Annotation></Annotations>'),
    "dtd.xml": ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxx"><!ENTITY y "&x;&x;&x;">]>'
                '<Annotations><Annotation Name="&y;"/></Annotations>'),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "seeds")
    tmp = tempfile.mkdtemp()
    try:
        for t in TARGETS:
            d = os.path.join(out, t)
            os.makedirs(d, exist_ok=True)
            for name in os.listdir(d):  # regenerate everything but the committed regressions
                if not name.startswith("regress_"):
                    os.remove(os.path.join(d, name))
        slide_seeds(os.path.join(out, "slide"), tmp)
        mirax_seeds(os.path.join(out, "mirax"), tmp)
        jpeg_seeds(os.path.join(out, "jpeg"), os.path.join(out, "slide"))
        model_seeds(os.path.join(out, "model"))
        text_seeds(os.path.join(out, "csv"), CSV)
        text_seeds(os.path.join(out, "json"), JSON)
        text_seeds(os.path.join(out, "config"), TOML)
        text_seeds(os.path.join(out, "annotations"), ANNOTATIONS)
    finally:
        shutil.rmtree(tmp)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out) for f in fs)
    print(f"make_seeds: {out}: {total} bytes")


if __name__ == "__main__":
    main()
