# The slide commands end to end: `info` JSON (generic TIFF and an Aperio-style file made here
# with PIL), `read-region`, `associated`, `bench-read`, and bad input -> exit code 2 with one
# `deepslide: error:` line naming the file.
import json
import os
import shutil
import struct
import subprocess
import tempfile

import numpy as np
from PIL import Image
from PIL.TiffImagePlugin import ImageFileDirectory_v2

DEEPSLIDE = os.environ["DEEPSLIDE"]


def run(*args, ok=True):
    p = subprocess.run([DEEPSLIDE, *map(str, args)], capture_output=True, text=True)
    if ok:
        assert p.returncode == 0, (args, p.returncode, p.stderr)
    return p


def expect_input_error(args, *words):
    p = run(*args, ok=False)
    assert p.returncode == 2, (args, p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deepslide: error: "), (args, p.stderr)
    for w in words:
        assert w in lines[0], (args, w, lines[0])


def pattern(w, h, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def main():
    tmp = tempfile.mkdtemp(prefix="ds_slide_cli_")
    try:
        src = os.path.join(tmp, "src.png")
        img = pattern(700, 500, 1)
        Image.fromarray(img).save(src)
        tif = os.path.join(tmp, "pyr.tif")
        subprocess.run(["vips", "tiffsave", src, tif, "--tile", "--pyramid", "--compression", "lzw",
                        "--tile-width", "128", "--tile-height", "128", "--xres", "4000", "--yres", "4000"],
                       check=True)
        info = json.loads(run("info", tif).stdout)
        assert info["vendor"] == "generic-tiff"
        assert [(L["width"], L["height"]) for L in info["levels"]] == [(700, 500), (350, 250), (175, 125), (87, 62)]
        assert info["levels"][1]["downsample"] == 2.0 and info["levels"][0]["tile_width"] == 128
        assert abs(info["mpp_x"] - 0.25) < 1e-6 and abs(info["mpp_y"] - 0.25) < 1e-6  # 4000 px/mm
        assert info["objective_power"] is None and info["associated"] == []
        assert info["properties"]["openslide.level-count"] == "4"

        out = os.path.join(tmp, "r.png")
        run("read-region", tif, "--x", 650, "--y", 10, "--level", 0, "--width", 100, "--height", 30, "--out", out)
        r = np.asarray(Image.open(out))
        assert r.shape == (30, 100, 3)
        assert (r[:, :50] == img[10:40, 650:700]).all() and (r[:, 50:] == 255).all()
        # The output's extension says the format: JPEG for .jpg / .jpeg, any other refused.
        jpg = os.path.join(tmp, "r.JPG")
        run("read-region", tif, "--x", 650, "--y", 10, "--level", 0, "--width", 100, "--height", 30, "--out", jpg)
        with open(jpg, "rb") as fh:
            assert fh.read(3) == b"\xff\xd8\xff", "read-region --out r.JPG did not write a JPEG"
        assert np.asarray(Image.open(jpg)).shape == (30, 100, 3)
        bmp = os.path.join(tmp, "r.bmp")
        expect_input_error(["read-region", tif, "--x", 0, "--y", 0, "--width", 8, "--height", 8, "--out", bmp],
                           "r.bmp", ".png, .jpg or .jpeg")
        assert not os.path.exists(bmp)

        # Aperio-style file: stripped base level, thumbnail as IFD 1, then a label.
        svs = os.path.join(tmp, "a.svs")
        desc = "Aperio Image Library v12.0.5\r\n700x500 [0,0 700x500] (256x256) JPEG/RGB Q=70|AppMag = 20|MPP = 0.4990"
        thumb, label = pattern(140, 100, 2), pattern(60, 50, 3)
        pages = [Image.fromarray(a) for a in (img, thumb, label)]
        descs = [desc, desc, "Aperio Image Library v12.0.5\r\nlabel 60x50"]
        ifds = []
        for d in descs:
            ifd = ImageFileDirectory_v2()
            ifd[270] = d
            ifds.append(ifd)
        pages[0].save(svs, format="TIFF", save_all=True, append_images=pages[1:], compression="tiff_lzw",
                      tiffinfo=ifds[0])
        # PIL writes one description for all pages; give the label page its own.
        with open(svs, "r+b") as f:
            data = f.read()
        pos = data.rfind(desc.encode())
        assert pos > 0
        new = descs[2].encode().ljust(len(desc), b" ")
        data = data[:pos] + new + data[pos + len(desc):]
        with open(svs, "wb") as f:
            f.write(data)
        a = json.loads(run("info", svs).stdout)
        assert a["vendor"] == "aperio", a["vendor"]
        assert a["mpp_x"] == 0.499 and a["objective_power"] == 20.0
        assert a["associated"] == ["thumbnail", "label"], a["associated"]
        assert a["properties"]["aperio.AppMag"] == "20"
        run("associated", svs, "thumbnail", "--out", out)
        assert (np.asarray(Image.open(out)) == thumb).all()
        run("associated", svs, "label", "--out", out)
        assert (np.asarray(Image.open(out)) == label).all()
        expect_input_error(["associated", svs, "macro", "--out", out], "macro", "thumbnail, label")

        bench = json.loads(run("bench-read", tif, "--pattern", "random", "--size", "64", "--count", "50",
                               "--threads", "2", "--seed", "3").stdout)
        assert bench["count"] == 50 and bench["regions_per_sec"] > 0 and bench["mb_per_sec"] > 0
        aligned = json.loads(run("bench-read", tif, "--pattern", "aligned", "--count", "20").stdout)
        assert aligned["region_width"] == 128 and aligned["region_height"] == 128 and aligned["threads"] == 1
        # The global --threads (before the command name) counts as bench-read's own.
        assert json.loads(run("--threads", "2", "bench-read", tif, "--count", "5").stdout)["threads"] == 2
        # Same regions read with and without partial decoding give the same bytes (checksum).
        jtif = os.path.join(tmp, "pyr_jpeg.tif")
        subprocess.run(["vips", "tiffsave", src, jtif, "--tile", "--pyramid", "--compression", "jpeg",
                        "--tile-width", "128", "--tile-height", "128"], check=True)
        sums = set()
        for mode in ["auto", "never", "always"]:
            r = json.loads(run("bench-read", jtif, "--pattern", "random", "--size", "100", "--count", "40",
                               "--seed", "5", "--partial-decode", mode).stdout)
            assert r["partial_decode"] == mode
            if mode != "auto":  # auto: this small slide sees much reuse, so whole tiles
                assert (r["tiles_decoded_in_part"] == 0) == (mode == "never"), r
            sums.add(r["checksum"])
        assert len(sums) == 1, sums
        # NDPI tiles through deepslide's own baseline JPEG decoder and through libjpeg: the same bytes,
        # whole tiles (aligned, raster) and parts of tiles (random) alike.
        ndpi = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "slides", "hamamatsu.ndpi")
        for reads in ["aligned", "random", "raster"]:
            sums = {}
            for decoder in ["auto", "libjpeg"]:
                r = json.loads(run("bench-read", ndpi, "--pattern", reads, "--size", "40", "--count", "30",
                                   "--seed", "2", "--jpeg-decoder", decoder).stdout)
                assert r["jpeg_decoder"] == decoder, r
                sums[decoder] = r["checksum"]
            assert sums["auto"] == sums["libjpeg"], (reads, sums)
        raster = json.loads(run("bench-read", jtif, "--pattern", "raster", "--size", "100", "--count", "30").stdout)
        # Raster windows keep whole tiles (only the first window, before reuse shows, may not).
        assert raster["tiles_decoded_in_part"] <= 2 and raster["tiles_from_cache"] > 0, raster

        text = os.path.join(tmp, "notes.txt")
        with open(text, "w") as f:
            f.write("not a slide\n")
        expect_input_error(["info", text], text, "not a slide")
        expect_input_error(["info", os.path.join(tmp, "nope.svs")], "no such file")
        expect_input_error(["read-region", tif, "--x", 0, "--y", 0, "--level", 9, "--width", 5, "--height", 5,
                            "--out", out], "level 9")
        expect_input_error(["read-region", tif, "--x", 0, "--y", 0, "--width", 0, "--height", 5,
                            "--out", out], "region size")
        # JPEG 2000 tiles that are not: an Aperio 33003 file whose tiles hold other data opens, and
        # reading it names the file and the codec; generic JPEG 2000 (34712) is refused with the
        # conversion.
        with open(tif, "rb") as f:
            raw = bytearray(f.read())
        j2k = os.path.join(tmp, "j2k.svs")
        ifd = struct.unpack_from("<I", raw, 4)[0]
        n = struct.unpack_from("<H", raw, ifd)[0]
        for i in range(n):
            e = ifd + 2 + 12 * i
            if struct.unpack_from("<H", raw, e)[0] == 259:
                struct.pack_into("<H", raw, e + 8, 33003)
        with open(j2k, "wb") as f:
            f.write(raw)
        run("info", j2k)
        expect_input_error(["read-region", j2k, "--x", 0, "--y", 0, "--width", 64, "--height", 64, "--out",
                            os.path.join(tmp, "j.png")], j2k, "not a JPEG 2000 codestream")
        for i in range(n):
            e = ifd + 2 + 12 * i
            if struct.unpack_from("<H", raw, e)[0] == 259:
                struct.pack_into("<H", raw, e + 8, 34712)
        with open(j2k, "wb") as f:
            f.write(raw)
        expect_input_error(["info", j2k], "JPEG 2000", "vips tiffsave")
        print("slide CLI: ok")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
