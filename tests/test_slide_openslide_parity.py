# Parity of `deepslide read-region` / `deepslide info` with OpenSlide (python3-openslide, the
# oracle) on pyramids written by third-party writers in this test: vips tiffsave (JPEG, LZW,
# Deflate, BigTIFF, SubIFD; tiles 128/240/256/512; odd sizes so edge tiles are partial) and
# tiffcp. Random regions on every level, crossing tile and slide edges. Tolerance: exact (0) for
# every file, JPEG included. Against OpenSlide, regions on levels whose downsample is not an
# integer are compared only where x / downsample is a whole level pixel (OpenSlide resamples
# sub-pixel offsets). Lossless files are also compared on every level against an independent
# decode (tiffcp extracts the level, PIL decodes it): OpenSlide 3.4.1 misplaces the rows of
# non-JPEG levels shorter than one tile (e.g. a 512x384 level in 512x512 tiles), so on those
# levels PIL is the oracle. Also: a palette pyramid (tiffcp), a label and a macro page that must
# not become levels, and tiff.* / Aperio properties as OpenSlide gives them.
import json
import math
import os
import random
import shutil
import subprocess
import tempfile

import numpy as np
import openslide
from PIL import Image, TiffImagePlugin

DEEPSLIDE = os.environ["DEEPSLIDE"]


def pattern(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), (x + 2 * y) % 256], -1)
    img = img.astype(np.uint8)
    mask = rng.random((h, w)) < 0.05
    img[mask] = rng.integers(0, 256, (int(mask.sum()), 3), dtype=np.uint8)
    return img


def run(*args):
    return subprocess.run([DEEPSLIDE, *map(str, args)], check=True, capture_output=True, text=True).stdout


def ours(path, x, y, level, w, h, out):
    run("read-region", path, "--x", x, "--y", y, "--level", level, "--width", w, "--height", h, "--out", out)
    return np.asarray(Image.open(out).convert("RGB")).astype(np.int16)


def oracle(slide, x, y, level, w, h):
    r = np.asarray(slide.read_region((x, y), level, (w, h))).astype(np.int16)
    rgb = r[..., :3].copy()
    rgb[r[..., 3] == 0] = 255  # OpenSlide leaves the outside transparent; we return white
    return rgb


def compare_levels_with_pil(path, tmp, rng, regions=4):
    info = json.loads(run("info", path))
    compared = 0
    for level, L in enumerate(info["levels"]):
        one = os.path.join(tmp, "level.tif")
        subprocess.run(["tiffcp", f"{path},{level}", one], check=True)
        ref = np.asarray(Image.open(one).convert("RGB")).astype(np.int16)
        assert ref.shape == (L["height"], L["width"], 3), (path, level, ref.shape)
        ds = L["downsample"]
        for _ in range(regions):
            w, h = rng.randint(1, 300), rng.randint(1, 300)
            lx, ly = rng.randint(-40, L["width"] + 10), rng.randint(-40, L["height"] + 10)
            x, y = math.ceil(lx * ds), math.ceil(ly * ds)
            assert math.floor(x / ds) == lx and math.floor(y / ds) == ly
            got = ours(path, x, y, level, w, h, os.path.join(tmp, "r.png"))
            want = np.full((h, w, 3), 255, np.int16)
            x0, y0, x1, y1 = max(lx, 0), max(ly, 0), min(lx + w, L["width"]), min(ly + h, L["height"])
            if x0 < x1 and y0 < y1:
                want[y0 - ly:y1 - ly, x0 - lx:x1 - lx] = ref[y0:y1, x0:x1]
            diff = int(np.abs(got - want).max())
            assert diff == 0, f"{path} level {level} ({x},{y}) {w}x{h}: max diff {diff} against PIL"
            compared += 1
    return compared


def compare_file(path, tmp, rng, levels_to_check=None, regions=5):
    info = json.loads(run("info", path))
    s = openslide.OpenSlide(path)
    n = s.level_count if levels_to_check is None else levels_to_check
    assert len(info["levels"]) >= n, (path, info["levels"], s.level_dimensions)
    worst, compared = 0, 0
    for level in range(n):
        lw, lh = s.level_dimensions[level]
        ours_level = info["levels"][level]
        assert (ours_level["width"], ours_level["height"]) == (lw, lh), (path, level)
        assert abs(ours_level["downsample"] - s.level_downsamples[level]) < 1e-9, (path, level)
        ds = s.level_downsamples[level]
        tries = 0
        done = 0
        while done < regions and tries < 200:
            tries += 1
            w, h = rng.randint(1, 300), rng.randint(1, 300)
            lx, ly = rng.randint(-40, lw + 10), rng.randint(-40, lh + 10)
            x, y = round(lx * ds), round(ly * ds)
            if math.floor(x / ds) != lx or math.floor(y / ds) != ly or x / ds != lx or y / ds != ly:
                continue
            got = ours(path, x, y, level, w, h, os.path.join(tmp, "r.png"))
            want = oracle(s, x, y, level, w, h)
            diff = int(np.abs(got - want).max())
            worst = max(worst, diff)
            assert diff == 0, f"{path} level {level} ({x},{y}) {w}x{h}: max diff {diff}"
            done += 1
            compared += 1
    return worst, compared


def vips(src, out, *opts):
    subprocess.run(["vips", "tiffsave", src, out, *opts], check=True, capture_output=True)


def main():
    tmp = tempfile.mkdtemp(prefix="ds_parity_")
    try:
        rng = random.Random(1234)
        even = os.path.join(tmp, "even.png")
        odd = os.path.join(tmp, "odd.png")
        Image.fromarray(pattern(1536, 1024, 1)).save(even)
        Image.fromarray(pattern(1037, 781, 2)).save(odd)
        cases = [
            ("jpeg256.tif", even, ["--tile", "--pyramid", "--compression", "jpeg", "--Q", "80",
                                   "--tile-width", "256", "--tile-height", "256"]),
            ("jpeg240_odd.tif", odd, ["--tile", "--pyramid", "--compression", "jpeg", "--Q", "90",
                                      "--tile-width", "240", "--tile-height", "240"]),
            ("lzw128_odd.tif", odd, ["lossless", "--tile", "--pyramid", "--compression", "lzw",
                                     "--tile-width", "128", "--tile-height", "128"]),
            ("deflate512_big.tif", even, ["lossless", "--tile", "--pyramid", "--compression", "deflate", "--bigtiff",
                                          "--tile-width", "512", "--tile-height", "512"]),
            ("none256_odd.tif", odd, ["lossless", "--tile", "--pyramid", "--compression", "none",
                                      "--tile-width", "256", "--tile-height", "256"]),
        ]
        for name, src, opts in cases:
            path = os.path.join(tmp, name)
            lossless = opts[0] == "lossless"
            vips(src, path, *opts[1:] if lossless else opts)
            if lossless:
                n_pil = compare_levels_with_pil(path, tmp, rng)
                worst, n = compare_file(path, tmp, rng, levels_to_check=1)
                print(f"{name}: {n_pil} regions exact against PIL, {n} against OpenSlide (level 0)")
            else:
                worst, n = compare_file(path, tmp, rng)
                print(f"{name}: {n} regions, max abs diff {worst} against OpenSlide")

        # tiffcp rewrite of a vips pyramid (LZW re-encode, IFD order and layout by libtiff).
        cp = os.path.join(tmp, "tiffcp.tif")
        subprocess.run(["tiffcp", "-c", "lzw", os.path.join(tmp, "lzw128_odd.tif"), cp], check=True)
        n_pil = compare_levels_with_pil(cp, tmp, rng)
        worst, n = compare_file(cp, tmp, rng, levels_to_check=1)
        print(f"tiffcp.tif: {n_pil} regions exact against PIL, {n} against OpenSlide (level 0)")

        # SubIFD pyramid: OpenSlide 3.4 sees only the main chain, so compare level 0 there and
        # the reduced levels against the same pyramid written flat.
        sub = os.path.join(tmp, "subifd.tif")
        flat = os.path.join(tmp, "jpeg256.tif")
        vips(even, sub, "--tile", "--pyramid", "--subifd", "--compression", "jpeg", "--Q", "80",
             "--tile-width", "256", "--tile-height", "256")
        compare_file(sub, tmp, rng, levels_to_check=1)
        sub_info = json.loads(run("info", sub))
        flat_info = json.loads(run("info", flat))
        assert sub_info["levels"] == flat_info["levels"], (sub_info["levels"], flat_info["levels"])
        for level in range(1, len(flat_info["levels"])):
            ds = flat_info["levels"][level]["downsample"]
            a = ours(sub, int(300 * ds), int(200 * ds), level, 200, 150, os.path.join(tmp, "a.png"))
            b = ours(flat, int(300 * ds), int(200 * ds), level, 200, 150, os.path.join(tmp, "b.png"))
            assert (a == b).all(), f"SubIFD level {level} differs from the flat pyramid"
        print(f"subifd.tif: {len(sub_info['levels'])} levels, reduced levels equal to the flat pyramid")

        # Stripped single-level TIFF (OpenSlide cannot open it): compare with PIL's decode.
        strip = os.path.join(tmp, "stripped.tif")
        vips(odd, strip, "--compression", "lzw")
        info = json.loads(run("info", strip))
        assert len(info["levels"]) == 1 and info["levels"][0]["width"] == 1037
        got = ours(strip, -5, 700, 0, 300, 100, os.path.join(tmp, "s.png"))
        want = np.full((100, 300, 3), 255, np.int16)
        want[:81, 5:] = np.asarray(Image.open(odd).convert("RGB"))[700:781, 0:295]
        assert (got == want).all(), "stripped TIFF differs from the source"
        print("stripped.tif: exact")

        # A palette (colour-mapped) pyramid level, tiled by tiffcp: as OpenSlide maps it.
        pal_src = os.path.join(tmp, "palette_src.tif")
        spp = TiffImagePlugin.ImageFileDirectory_v2()
        spp[277] = 1  # SamplesPerPixel, which PIL leaves out of a palette image and OpenSlide requires
        Image.fromarray(pattern(700, 500, 3)).quantize(200).save(pal_src, compression="tiff_lzw", tiffinfo=spp)
        pal = os.path.join(tmp, "palette.tif")
        subprocess.run(["tiffcp", "-t", "-w", "128", "-l", "128", pal_src, pal], check=True)
        worst, n = compare_file(pal, tmp, rng)
        print(f"palette.tif: {n} regions, max abs diff {worst} against OpenSlide")

        # Pages that are not levels: a stripped label (flagged reduced, as a de-identified slide's
        # can be) and a tiled page of another shape (a macro) after a vips pyramid. The levels are
        # the pyramid's alone (the label or macro as a level would be read as the slide).
        label = os.path.join(tmp, "label.tif")
        macro = os.path.join(tmp, "macro.tif")
        Image.fromarray(pattern(300, 260, 4)).save(label)
        vips(odd, macro, "--tile", "--compression", "jpeg", "--tile-width", "256", "--tile-height", "256")
        subprocess.run(["vips", "resize", macro, os.path.join(tmp, "macro_small.tif[tile,compression=jpeg]"),
                        "0.6", "--vscale", "0.3"], check=True, capture_output=True)
        extra = os.path.join(tmp, "with_label_macro.tif")
        subprocess.run(["tiffcp", os.path.join(tmp, "jpeg256.tif"), label, os.path.join(tmp, "macro_small.tif"),
                        extra], check=True)
        pages = len(subprocess.run(["tiffinfo", extra], capture_output=True, text=True).stdout.split("TIFF Directory"))
        for page in (pages - 3, pages - 2):  # (tiffset: 254 = NewSubfileType, 1 = reduced resolution)
            subprocess.run(["tiffset", "-d", str(page), "-s", "254", "1", extra], check=True)
        got = json.loads(run("info", extra))["levels"]
        assert got == json.loads(run("info", os.path.join(tmp, "jpeg256.tif")))["levels"], got
        compare_file(extra, tmp, rng, levels_to_check=1)
        print(f"with_label_macro.tif: {len(got)} levels, the pyramid's")

        # A stripped full-resolution page followed by tiled reductions (GDAL's layout): level 0 is
        # the stripped page, the reductions the others (OpenSlide cannot open it).
        gdal = os.path.join(tmp, "gdal_like.tif")
        jpeg256 = os.path.join(tmp, "jpeg256.tif")
        vips(even, os.path.join(tmp, "strip0.tif"), "--compression", "lzw")
        n_levels = len(json.loads(run("info", jpeg256))["levels"])
        subprocess.run(["tiffcp", os.path.join(tmp, "strip0.tif"),
                        jpeg256 + "," + ",".join(str(k) for k in range(1, n_levels)), gdal], check=True)
        got = json.loads(run("info", gdal))["levels"]
        want = json.loads(run("info", jpeg256))["levels"]
        assert [(L["width"], L["height"]) for L in got] == [(L["width"], L["height"]) for L in want], got
        level0 = ours(gdal, 100, 200, 0, 64, 48, os.path.join(tmp, "g.png"))
        assert (level0 == np.asarray(Image.open(even).convert("RGB"))[200:248, 100:164]).all()
        print(f"gdal_like.tif: {len(got)} levels, level 0 the stripped page")

        # A tall slide: each level's width rounds off more of the aspect ratio than its height
        # (vips floors both sides), and every level is still one.
        tall_src = os.path.join(tmp, "tall.png")
        Image.fromarray(pattern(616, 7395, 5)).save(tall_src)
        tall = os.path.join(tmp, "tall.tif")
        vips(tall_src, tall, "--tile", "--pyramid", "--compression", "jpeg", "--tile-width", "128",
             "--tile-height", "128")
        worst, n = compare_file(tall, tmp, rng, regions=2)
        print(f"tall.tif: {openslide.OpenSlide(tall).level_count} levels as OpenSlide's, {n} regions exact")

        # Properties: the tiff.* tags OpenSlide lists, and an Aperio description with a decimal
        # comma in MPP and an AppMag that is not an integer (OpenSlide: mpp 0.499, no objective power).
        props = os.path.join(tmp, "props.tif")
        shutil.copy(os.path.join(tmp, "jpeg256.tif"), props)
        for tag, value in (("315", "Dr. Who"), ("316", "scanner-pc"), ("33432", "(c) Hospital"),
                           ("269", "case-42"), ("270", "Aperio Image Library v10.0.51\n1536x1024 [0,0 1536x1024] "
                                                       "(256x256) JPEG/RGB Q=80|AppMag = 40.0|MPP = 0,4990")):
            subprocess.run(["tiffset", "-s", tag, value, props], check=True)
        theirs = dict(openslide.OpenSlide(props).properties)
        mine = json.loads(run("info", props))["properties"]
        keys = [k for k in theirs if k.startswith(("tiff.", "openslide.mpp", "openslide.objective", "aperio."))]
        assert {"tiff.Artist", "tiff.HostComputer", "tiff.Copyright", "tiff.DocumentName", "tiff.ResolutionUnit",
                "openslide.mpp-x"} <= set(keys), keys
        differ = {k: (theirs[k], mine.get(k)) for k in keys if mine.get(k) != theirs[k]}
        assert not differ, differ
        assert "openslide.objective-power" not in mine, mine.get("openslide.objective-power")
        print(f"props.tif: {len(keys)} properties as OpenSlide gives them")
        print("parity: all regions exact")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
