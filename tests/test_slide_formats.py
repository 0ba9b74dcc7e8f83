# Vendor formats against OpenSlide 3.4.1 (python3-openslide, the oracle), on files written by
# third-party writers following each vendor's layout (scripts/gen_svs_jp2k.py: opj_compress +
# tifffile; scripts/gen_ndpi.py: cjpeg / vips JPEGs in an NDPI container; scripts/gen_ome_tiff.py:
# tifffile, whose SubIFD levels OpenSlide does not read: libvips is their oracle): the committed
# fixtures (tests/fixtures/slides/) and larger variants made here. A file counts only when
# OpenSlide opens it as its vendor (and, for NDPI, tifffile reads it as NDPI). Then `deepslide
# info` must give OpenSlide's levels, downsamples, mpp, objective power and every property
# (openslide.quickhash-1 aside: we compute no hash), the same associated images pixel for pixel,
# and `read-region` the same pixels (tolerance 0: the same decoders) at random places of level 0
# and of every level with an integer downsample, across tile and level edges and outside the
# level. Damaged files (corrupt JPEG 2000 codestream, broken NDPI restart markers, a missing
# level, an SVS whose tiled pages are out of order) must fail with one line naming the file, exit code 2.
# An SVS whose every page `tiffcp` tiled reads as the original.
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import openslide
import tifffile
from PIL import Image

DEEPSLIDE = os.environ["DEEPSLIDE"]
SRC = os.environ.get("DS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.environ.get("DS_FIXTURES", os.path.join(SRC, "tests", "fixtures"))
sys.path.insert(0, os.path.join(SRC, "scripts"))
import gen_leica  # noqa: E402
import gen_ndpi  # noqa: E402
import gen_ome_tiff  # noqa: E402
import gen_philips  # noqa: E402
import gen_svs_jp2k  # noqa: E402
import gen_ventana  # noqa: E402


def run(*args):
    return subprocess.run([DEEPSLIDE, *map(str, args)], check=True, capture_output=True, text=True).stdout


def ours(path, x, y, level, w, h, out):
    run("read-region", path, "--x", x, "--y", y, "--level", level, "--width", w, "--height", h, "--out", out)
    return np.asarray(Image.open(out).convert("RGB")).astype(np.int16)


def oracle(slide, x, y, level, w, h):
    """OpenSlide's region over white: it leaves the outside transparent (and, where it resamples
    tiles at sub-pixel positions, their edges partly so); we return it flattened over white."""
    r = np.asarray(slide.read_region((x, y), level, (w, h))).astype(np.int32)
    a = r[..., 3:]
    return ((r[..., :3] * a + 127) // 255 + 255 - a).astype(np.int16)


def compare_info(path, vendor):
    info = json.loads(run("info", path))
    s = openslide.OpenSlide(path)
    theirs = dict(s.properties)
    assert theirs["openslide.vendor"] == vendor, (path, theirs["openslide.vendor"])
    assert info["vendor"] == vendor, (path, info["vendor"])
    dims = [(L["width"], L["height"]) for L in info["levels"]]
    assert dims == list(s.level_dimensions), (path, dims, s.level_dimensions)
    for L, d in zip(info["levels"], s.level_downsamples):
        assert abs(L["downsample"] - d) < 1e-9, (path, L, d)
    theirs.pop("openslide.quickhash-1", None)
    diff = {k: (info["properties"].get(k), theirs.get(k)) for k in set(info["properties"]) | set(theirs)
            if info["properties"].get(k) != theirs.get(k)}
    assert not diff, (path, diff)
    for key, ours_value in (("openslide.mpp-x", info["mpp_x"]), ("openslide.mpp-y", info["mpp_y"]),
                            ("openslide.objective-power", info["objective_power"])):
        assert (key in theirs) == (ours_value is not None), (path, key)
        if key in theirs:
            assert float(theirs[key]) == ours_value, (path, key, theirs[key], ours_value)
    assert sorted(info["associated"]) == sorted(s.associated_images), (path, info["associated"])
    return info, s


def compare_associated(path, s, tmp):
    for name, img in s.associated_images.items():
        out = os.path.join(tmp, "assoc.png")
        run("associated", path, name, "--out", out)
        got = np.asarray(Image.open(out).convert("RGB")).astype(np.int16)
        want = np.asarray(img.convert("RGB")).astype(np.int16)
        assert got.shape == want.shape and int(np.abs(got - want).max()) == 0, (path, name)


def compare_regions(path, s, tmp, rng, regions=4, tolerance=0, inside_level=False):
    """Random regions on level 0 and every level with an integer downsample, plus the level's
    corners and a region wholly outside. Returns how many were compared and the largest difference.
    inside_level: OpenSlide draws tiles reaching past the level's size there too (MIRAX); we keep
    the outside white, so only pixels inside the level are compared and the rest must be white."""
    n, worst = 0, 0
    for level in range(s.level_count):
        ds = s.level_downsamples[level]
        if level and ds != int(ds):
            continue
        ds = int(ds)
        lw, lh = s.level_dimensions[level]
        spots = [(rng.randint(-30, lw + 10), rng.randint(-30, lh + 10), rng.randint(1, 260), rng.randint(1, 260))
                 for _ in range(regions)]
        spots += [(-7, -5, 40, 30), (lw - 33, lh - 21, 50, 40), (lw + 5, 3, 20, 20)]
        for lx, ly, w, h in spots:
            got = ours(path, lx * ds, ly * ds, level, w, h, os.path.join(tmp, "r.png"))
            want = oracle(s, lx * ds, ly * ds, level, w, h)
            if inside_level:
                yy, xx = np.mgrid[ly:ly + h, lx:lx + w]
                inside = (xx >= 0) & (xx < lw) & (yy >= 0) & (yy < lh)
                assert (got[~inside] == 255).all(), f"{path} level {level}: not white outside the level"
                want = np.where(inside[..., None], want, got)
            diff = int(np.abs(got - want).max())
            assert diff <= tolerance, f"{path} level {level} ({lx * ds},{ly * ds}) {w}x{h}: max diff {diff}"
            n, worst = n + 1, max(worst, diff)
    return n, worst


def check_file(path, vendor, tmp, rng, regions=4, tolerance=0, inside_level=False):
    info, s = compare_info(path, vendor)
    compare_associated(path, s, tmp)
    n, worst = compare_regions(path, s, tmp, rng, regions, tolerance, inside_level)
    equal = "exact" if tolerance == 0 else f"within {worst} (at most {tolerance} allowed)"
    print(f"{os.path.basename(path)}: {vendor}, {len(info['levels'])} levels, {len(info['properties'])} properties "
          f"and {len(info['associated'])} associated images equal, {n} regions {equal}", flush=True)


def expect_error(args, path, *words):
    p = subprocess.run([DEEPSLIDE, *map(str, args)], capture_output=True, text=True)
    lines = p.stderr.strip().splitlines()
    if os.environ.get("DS_SHOW_ERRORS"):
        print(lines)
    assert p.returncode == 2, (args, p.returncode, p.stderr)
    assert len(lines) == 1 and lines[0].startswith("deepslide: error: ") and path in lines[0], (args, p.stderr)
    for w in words:
        assert w in lines[0], (args, w, lines[0])
    return lines[0]


def write_patched(path, raw, at, new):
    """Writes `raw` with the bytes at `at` replaced by `new` to `path`; returns `path`."""
    patched = bytearray(raw)
    patched[at:at + len(new)] = new
    with open(path, "wb") as f:
        f.write(patched)
    return path


def read_all(path, tmp):
    """read-region of the whole of level 0, in one call."""
    return ["read-region", path, "--x", 0, "--y", 0, "--level", 0, "--width", 1024, "--height", 768, "--out",
            os.path.join(tmp, "all.png")]


def ndpi_bad_inputs(tmp):
    good = os.path.join(tmp, "bad_base.ndpi")
    info = gen_ndpi.make_ndpi(good, 1024, 768, levels=3)
    with open(good, "rb") as f:
        raw = f.read()
    at, starts = info[0]  # level 0's JPEG: where it is, where its intervals start
    # A restart marker damaged: with tag 65426 the recorded position holds no marker; without it
    # the scan finds a marker too few.
    broken = bytearray(raw)
    rst = at + starts[5] - 2
    assert broken[rst] == 0xFF and 0xD0 <= broken[rst + 1] <= 0xD7
    broken[rst + 1] = 0x00
    p = os.path.join(tmp, "broken_rst.ndpi")
    with open(p, "wb") as f:
        f.write(broken)
    expect_error(read_all(p, tmp), p, "restart marker")
    q = os.path.join(tmp, "broken_rst_scan.ndpi")
    gen_ndpi.make_ndpi(q, 1024, 768, levels=3, write_starts=False)
    with open(q, "rb") as f:
        scan = bytearray(f.read())
    scan[rst + 1] = 0x00
    with open(q, "wb") as f:
        f.write(scan)
    expect_error(read_all(q, tmp), q, "restart markers")
    # A missing level: the file cut inside level 0's JPEG (the directories are at the end, so
    # the cut loses them: no level at all), and a level whose strip lies past the end of the file.
    cut = os.path.join(tmp, "cut.ndpi")
    with open(cut, "wb") as f:
        f.write(raw[:at + 5000])
    expect_error(["info", cut], cut)
    gone = bytearray(raw)
    tail = struct.pack("<I", at)
    pos = gone.rfind(b"\x11\x01\x04\x00\x01\x00\x00\x00" + tail)  # StripOffsets (273) of level 0
    assert pos > 0
    gone[pos + 8:pos + 12] = struct.pack("<I", len(raw) + 100000)
    p = os.path.join(tmp, "gone.ndpi")
    with open(p, "wb") as f:
        f.write(gone)
    expect_error(["info", p], p, "directory 0", "past the end of the file")
    print("NDPI: broken restart markers (recorded and scanned), a cut file and a level past the end: exit 2, one line")


def svs_bad_inputs(tmp):
    good = os.path.join(FIXTURES, "slides", "aperio_jp2k_33005.svs")
    with open(good, "rb") as f:
        raw = bytearray(f.read())
    soc = raw.find(b"\xff\x4f\xff\x51")
    bad = bytearray(raw)
    bad[soc + 4 + 36:soc + 4 + 38] = struct.pack(">H", 4)  # Csiz: 4 components
    p = os.path.join(tmp, "bad_j2k.svs")
    with open(p, "wb") as f:
        f.write(bad)
    expect_error(read_all(p, tmp), p, "JPEG 2000")
    # A missing level: the file cut before its last pyramid level's tiles.
    cut = os.path.join(tmp, "cut.svs")
    t = tifffile.TiffFile(good)
    lvl = [pg for pg in t.pages if pg.is_tiled][-1]
    with open(cut, "wb") as f:
        f.write(raw[:lvl.dataoffsets[0] + 10])
    expect_error(["read-region", cut, "--x", 0, "--y", 0, "--level", 1, "--width", 150, "--height", 120, "--out",
                  os.path.join(tmp, "c.png")], cut)
    # A description that is not UTF-8 (a Latin-1 "µ"): info prints it (U+FFFD for the byte).
    latin = bytearray(raw)
    at = latin.find(b"ScanScope ID")
    latin[at] = 0xB5
    p = os.path.join(tmp, "latin1.svs")
    with open(p, "wb") as f:
        f.write(latin)
    assert "\ufffdcanScope ID" in json.loads(run("info", p))["properties"]["tiff.ImageDescription"]
    print("SVS JPEG 2000: a corrupt codestream and a cut file: exit 2, one line; a Latin-1 description reads")


def svs_all_pages_tiled(tmp):
    """An SVS rewritten by `tiffcp`, which tiles every page (the thumbnail, label and macro too):
    read as the original (its levels, associated images and pixels; deflate keeps the pixels), where
    OpenSlide refuses it; its pages reordered so that a level follows a smaller one: refused."""
    synth = os.path.join(tmp, "tiffcp_synth")
    # (3000 px: the thumbnail, 768 px, then sits between levels 0 and 1 in size, out of order)
    run("synth", "--out", synth, "--classes", "2", "--slides-per-class", "1", "--width", 3000, "--height", 2400)
    cls = sorted(os.listdir(synth))[0]
    orig = os.path.join(synth, cls, os.listdir(os.path.join(synth, cls))[0])
    copy = os.path.join(tmp, "tiffcp_all_tiled.svs")
    subprocess.run(["tiffcp", "-c", "zip", orig, copy], check=True)
    assert all(pg.is_tiled for pg in tifffile.TiffFile(copy).pages), "tiffcp left a page in strips"
    a, b = json.loads(run("info", orig)), json.loads(run("info", copy))
    assert a["levels"] == b["levels"] and a["associated"] == b["associated"] == ["thumbnail", "label", "macro"], (a, b)
    for level in range(len(a["levels"])):
        args = ["--x", 0, "--y", 0, "--level", level, "--width", 300, "--height", 250]
        run("read-region", orig, *args, "--out", os.path.join(tmp, "o.png"))
        run("read-region", copy, *args, "--out", os.path.join(tmp, "c.png"))
        assert np.array_equal(np.asarray(Image.open(os.path.join(tmp, "o.png"))),
                              np.asarray(Image.open(os.path.join(tmp, "c.png")))), level
    for name in a["associated"]:
        run("associated", orig, name, "--out", os.path.join(tmp, "o.png"))
        run("associated", copy, name, "--out", os.path.join(tmp, "c.png"))
        assert np.array_equal(np.asarray(Image.open(os.path.join(tmp, "o.png"))),
                              np.asarray(Image.open(os.path.join(tmp, "c.png")))), name
    shuffled = os.path.join(tmp, "tiffcp_out_of_order.svs")
    subprocess.run(["tiffcp", "-c", "zip", orig + ",0,2,4,3", shuffled], check=True)
    expect_error(["info", shuffled], shuffled, "not in decreasing size order")
    print("SVS with every page tiled (tiffcp): read as the original; its levels out of order: refused")


def ome_tiff(tmp, rng):
    """OME-TIFF: OpenSlide reads it as generic-tiff, level 0 only; libvips reads every level (its
    SubIFDs) and is the oracle there (lossless tiles: exact). mpp from PhysicalSize, in nm here."""
    p = os.path.join(tmp, "pyramid.ome.tif")
    gen_ome_tiff.make_ome(p, 1100, 900, levels=3, mpp=250, unit="nm")
    assert tifffile.TiffFile(p).is_ome
    info = json.loads(run("info", p))
    assert info["vendor"] == "ome-tiff", info["vendor"]
    assert [(L["width"], L["height"]) for L in info["levels"]] == [(1100, 900), (550, 450), (275, 225)], info["levels"]
    assert info["mpp_x"] == 0.25 and info["mpp_y"] == 0.25, (info["mpp_x"], info["mpp_y"])
    assert info["properties"]["openslide.mpp-x"] == "0.25" and info["properties"]["ome.PhysicalSizeXUnit"] == "nm"
    s = openslide.OpenSlide(p)
    assert s.properties["openslide.vendor"] == "generic-tiff" and s.level_count == 1
    n = compare_regions(p, s, tmp, rng, regions=4)[0]
    for level, L in enumerate(info["levels"]):
        ref_png = os.path.join(tmp, f"vips{level}.png")
        load = [p] if level == 0 else [p, "--subifd", str(level - 1)]
        subprocess.run(["vips", "tiffload", *load, ref_png], check=True, capture_output=True)
        ref = np.asarray(Image.open(ref_png).convert("RGB")).astype(np.int16)
        assert ref.shape == (L["height"], L["width"], 3), (level, ref.shape)
        ds = int(L["downsample"])
        for _ in range(4):
            w, h = rng.randint(1, 300), rng.randint(1, 300)
            lx, ly = rng.randint(-20, L["width"] + 5), rng.randint(-20, L["height"] + 5)
            got = ours(p, lx * ds, ly * ds, level, w, h, os.path.join(tmp, "o.png"))
            want = np.full((h, w, 3), 255, np.int16)
            x0, y0, x1, y1 = max(lx, 0), max(ly, 0), min(lx + w, L["width"]), min(ly + h, L["height"])
            if x0 < x1 and y0 < y1:
                want[y0 - ly:y1 - ly, x0 - lx:x1 - lx] = ref[y0:y1, x0:x1]
            assert int(np.abs(got - want).max()) == 0, f"OME-TIFF level {level} ({lx},{ly}) {w}x{h} differs from libvips"
            n += 1
    print(f"pyramid.ome.tif: ome-tiff, 3 levels (SubIFDs), mpp 0.25 from PhysicalSize in nm, {n} regions exact "
          "(level 0 against OpenSlide, every level against libvips)")


def philips(tmp, rng):
    """Philips TIFF: padded reduced levels clipped by the XML's pixel spacing, missing tiles,
    label and macro as base64 JPEGs in the XML; then the bad inputs."""
    p = os.path.join(tmp, "philips.tiff")
    gen_philips.make_philips(p, 1280, 1000, levels=4, tile=128)
    assert openslide.OpenSlide.detect_format(p) == "philips"
    check_file(p, "philips", tmp, rng, regions=4)
    # Level 0 not a whole number of tiles, 256-px tiles, three levels (the last a single row).
    q = os.path.join(tmp, "philips_odd.tiff")
    gen_philips.make_philips(q, 1100, 700, levels=3, tile=256, seed=9)
    check_file(q, "philips", tmp, rng, regions=3)
    # Bad base64 in the XML: OpenSlide leaves the image out, and so do we.
    b = os.path.join(tmp, "philips_bad_b64.tiff")
    gen_philips.make_philips(b, 512, 384, levels=2, tile=128, label_b64="@@not base64@@")
    check_file(b, "philips", tmp, rng, regions=1)
    assert "label" not in json.loads(run("info", b))["associated"]
    expect_error(["associated", b, "label", "--out", os.path.join(tmp, "l.png")], b, "label")
    with open(p, "rb") as f:
        raw = bytearray(f.read())
    # Broken XML: an element closed by the wrong tag.
    bp = write_patched(os.path.join(tmp, "philips_broken_xml.tiff"), raw, raw.find(b"</Array>"), b"</Arrax>")
    expect_error(["info", bp], bp, "XML")
    # A missing level: the XML's last pixel data representation loses its spacing.
    gp = write_patched(os.path.join(tmp, "philips_missing_level.tiff"), raw, raw.rfind(b'Name="DICOM_PIXEL_SPACING"'),
                       b'Name="DICOM_PIXEL_SPACINX"')
    expect_error(["info", gp], gp, "pixel spacings")
    print("Philips: broken XML and a missing level: exit 2, one line; bad base64: no label, as OpenSlide")


def ventana(tmp, rng):
    """Ventana BIF: two areas of interest on the level-0 tile grid (the rest white), no overlap;
    a Ventana TIFF (no EncodeInfo); then the bad inputs."""
    p = os.path.join(tmp, "ventana.bif")
    gen_ventana.make_ventana(p, cols=4, rows=3, tile=256, levels=3)
    assert openslide.OpenSlide.detect_format(p) == "ventana"
    check_file(p, "ventana", tmp, rng, regions=5)
    q = os.path.join(tmp, "ventana_plain.tif")
    gen_ventana.make_ventana(q, cols=3, rows=2, tile=128, levels=2, plain=True, seed=8)
    check_file(q, "ventana", tmp, rng, regions=3)
    with open(p, "rb") as f:
        raw = bytearray(f.read())
    # One joint overlapping by 9 px: every tile then advances by a fraction of a pixel less.
    op = write_patched(os.path.join(tmp, "ventana_one_joint.bif"), raw,
                       raw.find(b'OverlapX="0" OverlapY="0" Confidence="90"'), b'OverlapX="9"')
    check_file(op, "ventana", tmp, rng, regions=3, tolerance=3)
    cases = [(b"level=1 mag=20", b"level=2 mag=20", "missing level"),  # a level left out
             (b"</SlideStitchInfo>", b"</SlideStitchInfX>", "EncodeInfo XML is broken"),
             (b'Confidence="90"', b'Confidence="-9"', "confidence is out of range"),
             (b'Tile2="2"', b'Tile2="9"', "tile number out of bounds")]
    for i, (old, new, words) in enumerate(cases):
        bad = bytearray(raw)
        at = bad.find(old)
        assert at >= 0, old
        bad[at:at + len(old)] = new
        bp = os.path.join(tmp, f"ventana_bad{i}.bif")
        with open(bp, "wb") as f:
            f.write(bad)
        expect_error(["info", bp], bp, words)
    # Tiles overlapping by 100 of their 128 px: a stack of them on every pixel, refused.
    bp = os.path.join(tmp, "ventana_stacked.bif")
    gen_ventana.make_ventana(bp, cols=4, rows=3, tile=128, levels=2, overlap=(100, 0))
    expect_error(["info", bp], bp, "tile advance")
    # More scanned areas than any scanner writes (every drawn tile looks through them): refused.
    bp = os.path.join(tmp, "ventana_many_areas.bif")
    gen_ventana.make_ventana(bp, cols=2, rows=2, tile=32, levels=1, areas=((0, 0, 2, 2),) * 4097)
    expect_error(["info", bp], bp, "scanned areas")
    print("Ventana: a missing level, broken XML, a negative confidence, a bad tile number, tiles overlapping by 100 "
          "of 128 px, 4097 areas: exit 2, one line")


def ventana_overlap(tmp, rng):
    """Ventana BIFs whose tiles overlap, and areas off the tile grid: OpenSlide draws every tile at
    its sub-pixel position (cairo, pixman's bilinear filter, SATURATE), the lower levels from the
    level-0 tiles shrunk; we paint the same way, so pixels may differ by pixman's rounding alone."""
    check_file(os.path.join(FIXTURES, "slides", "ventana_overlap.bif"), "ventana", tmp, rng, regions=5, tolerance=3)
    p = os.path.join(tmp, "ventana_overlap.bif")
    gen_ventana.make_ventana(p, cols=6, rows=4, tile=256, levels=4, overlap=(23, 14), seed=11,
                             areas=((0, 0, 3, 4), (3, 1, 3, 3)))
    assert openslide.OpenSlide.detect_format(p) == "ventana"
    check_file(p, "ventana", tmp, rng, regions=5, tolerance=3)


def leica(tmp, rng):
    """Leica SCN: two main images at their offsets on a white slide (where they overlap the
    earlier one shows: OpenSlide paints with cairo's SATURATE), a macro, leica.* and region/bounds properties; then bad inputs."""
    p = os.path.join(tmp, "leica.scn")
    gen_leica.make_leica(p)
    assert openslide.OpenSlide.detect_format(p) == "leica"
    check_file(p, "leica", tmp, rng, regions=5)
    s = openslide.OpenSlide(p)
    # Where the two main images overlap (level-0 x 500..520, y 300..520): the first one's pixels.
    got = ours(p, 490, 290, 0, 40, 40, os.path.join(tmp, "o.png"))
    assert int(np.abs(got - oracle(s, 490, 290, 0, 40, 40)).max()) == 0
    with open(p, "rb") as f:
        raw = bytearray(f.read())
    cases = [(b'ifd="4"', b'ifd="9"', "directory 9"),  # a level's directory missing
             (b"</collection>", b"</collectioX>", "XML is broken"),
             (b">brightfield<", b">darkfieldxx<", "no brightfield")]  # every image (replaced throughout)
    for i, (old, new, words) in enumerate(cases):
        assert len(old) == len(new) and old in raw, old  # the description keeps its length
        bad = raw.replace(old, new) if old == b">brightfield<" else raw.replace(old, new, 1)
        bp = os.path.join(tmp, f"leica_bad{i}.scn")
        with open(bp, "wb") as f:
            f.write(bad)
        expect_error(["info", bp], bp, words)
    print("Leica: a missing directory and broken XML: exit 2, one line")


def main():
    tmp = tempfile.mkdtemp(prefix="ds_formats_")
    try:
        rng = random.Random(19)
        fx = os.path.join(FIXTURES, "slides")
        for name in ("aperio_jp2k_33003.svs", "aperio_jp2k_33005.svs"):
            check_file(os.path.join(fx, name), "aperio", tmp, rng)
        # A larger SVS: three levels, the last with a non-integer downsample, partial edge tiles.
        big = os.path.join(tmp, "jp2k_big.svs")
        gen_svs_jp2k.make_svs(big, 1300, 1010, 33003, seed=5, levels=3)
        check_file(big, "aperio", tmp, rng, regions=3)

        ndpi = os.path.join(fx, "hamamatsu.ndpi")
        assert tifffile.TiffFile(ndpi).is_ndpi
        check_file(ndpi, "hamamatsu", tmp, rng)
        cases = [("vips_444_scanned.ndpi", dict(width=2048, height=1024, sampling="1x1", restart=64, encoder="vips",
                                                write_starts=False)),
                 ("wide.ndpi", dict(width=69632, height=64, levels=2, pieces=2)),
                 ("over4gb.ndpi", dict(width=1024, height=768, hole=4_400_000_000))]
        for name, kw in cases:
            p = os.path.join(tmp, name)
            gen_ndpi.make_ndpi(p, **kw)
            assert tifffile.TiffFile(p).is_ndpi, p
            check_file(p, "hamamatsu", tmp, rng, regions=2)
        wide = json.loads(run("info", os.path.join(tmp, "wide.ndpi")))
        assert wide["levels"][0]["width"] == 69632
        ome_tiff(tmp, rng)
        philips(tmp, rng)
        ventana(tmp, rng)
        ventana_overlap(tmp, rng)
        leica(tmp, rng)
        ndpi_bad_inputs(tmp)
        svs_bad_inputs(tmp)
        svs_all_pages_tiled(tmp)
        print("formats: all equal (exact but for the overlapping BIFs, within pixman's rounding)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
