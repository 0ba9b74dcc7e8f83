#!/usr/bin/python3
# Writes an Aperio SVS whose pyramid tiles are JPEG 2000 codestreams, as Aperio's ImageScope /
# ScanScope software writes them (Aperio's "Digital Slides and Third-party data interchange"
# document, OpenSlide's format page): TIFF compression 33003 (YCbCr, no MCT, chroma 2:1
# horizontally, "J2K/YUV16") or 33005 (RGB through the irreversible MCT, "J2K/KDU"), 240 px
# tiles, one raw J2K codestream per tile, every tile (edge tiles too) a whole tile; directory 0
# the full image, directory 1 a stripped thumbnail, then the reduced levels (4x each), then the
# stripped label (NewSubfileType 1) and macro (9) images; `key = value` pairs in the
# ImageDescription. None of it is written by deepslide: OpenJPEG's opj_compress encodes the
# tiles (the YCbCr planes are computed here with JPEG's full-range matrix and given to it raw,
# with their subsampling), tifffile writes the TIFF with the pre-compressed tiles (as
# "uncompressed" bytes: without imagecodecs it knows no 33003 codec; its TiffTag.overwrite then
# sets the Compression tag). The associated images are uncompressed (tifffile has no JPEG or LZW
# encoder without imagecodecs).
# A file counts only if OpenSlide opens it as vendor "aperio": the tests check that.
#
#   /usr/bin/python3 scripts/gen_svs_jp2k.py OUT.svs [--width W --height H --compression 33003|33005]
import argparse
import os
import shutil
import subprocess
import tempfile

import numpy as np
import tifffile
from PIL import Image
from synthetic_tissue import tissue as _tissue  # noqa: E402


def tissue(w, h, seed):
    return _tissue(w, h, seed, cell=64, noise=12, stripes=(0, 37, 23, 30))


TILE = 240


def ycbcr_planes(rgb):
    """JPEG full-range YCbCr; Cb and Cr averaged over horizontal pairs (4:2:2, Aperio's YUV16)."""
    f = rgb.astype(np.float64)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    half = lambda c: (c[:, 0::2] + c[:, 1::2]) / 2
    to8 = lambda c: np.clip(np.rint(c), 0, 255).astype(np.uint8)
    return to8(y), to8(half(cb)), to8(half(cr))


def encode_tiles(tiles, compression, rate, tmp):
    """One opj_compress run over a folder of tiles; returns the codestreams in tile order."""
    src = os.path.join(tmp, "tiles")  # opj_compress -ImgDir writes t*.J2K beside its inputs
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    for i, t in enumerate(tiles):
        if compression == 33003:
            with open(os.path.join(src, f"t{i:06d}.raw"), "wb") as f:
                for plane in ycbcr_planes(t):
                    f.write(plane.tobytes())
        else:
            Image.fromarray(t).save(os.path.join(src, f"t{i:06d}.ppm"))
    opts = ["-I", "-r", str(rate)]
    if compression == 33003:
        opts += ["-mct", "0", "-F", f"{TILE},{TILE},3,8,u@1x1:2x1:2x1"]
    subprocess.run(["opj_compress", "-ImgDir", src, "-OutFor", "J2K", *opts], check=True, capture_output=True)
    out = []
    for i in range(len(tiles)):
        with open(os.path.join(src, f"t{i:06d}.J2K"), "rb") as f:
            out.append(f.read())
    return out


def cut_tiles(img):
    """Whole TILE x TILE tiles in raster order; the part past the image edge repeats the edge."""
    h, w, _ = img.shape
    th, tw = -(-h // TILE), -(-w // TILE)
    padded = np.pad(img, ((0, th * TILE - h), (0, tw * TILE - w), (0, 0)), mode="edge")
    return [padded[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE].copy() for r in range(th) for c in range(tw)]


def description(w, h, compression, first, extra=""):
    codec = "J2K/YUV16 Q=70" if compression == 33003 else "J2K/KDU Q=30"
    head = f"Aperio Image Library v10.0.50\r\n{w}x{h} [0,100 {w}x{h}] ({TILE}x{TILE}) {codec}{extra}"
    if not first:
        return head
    return (head + "|AppMag = 20|StripeWidth = 2040|ScanScope ID = SS1302|Filename = ds_jp2k|Date = 12/29/09"
            "|Time = 09:59:15|User = b414003d-95c6-48b0-9369-8010ed517ba7|MPP = 0.4990|Left = 25.691574"
            "|Top = 23.449873|LineCameraSkew = -0.000424|LineAreaXOffset = 0.019265|LineAreaYOffset = -0.000313"
            "|Focus Offset = 0.000000|ImageID = 1004486|OriginalWidth = 46920|Originalheight = 33014"
            "|Filtered = 5|ICC Profile = ScanScope v1")


def make_svs(path, width=1000, height=760, compression=33003, seed=7, rate=12, levels=3, label_size=(153, 148),
             macro_size=(386, 131)):
    base = tissue(width, height, seed)
    pyramid = [base]
    for _ in range(1, levels):
        prev = pyramid[-1]
        w, h = max(1, prev.shape[1] // 4), max(1, prev.shape[0] // 4)
        if w < 16 or h < 16:
            break
        pyramid.append(np.asarray(Image.fromarray(prev).resize((w, h), Image.LANCZOS)))
    thumb_w = min(1024, width // 4)
    thumb = np.asarray(Image.fromarray(base).resize((thumb_w, max(1, height * thumb_w // width)), Image.LANCZOS))
    label = tissue(*label_size, seed + 1)
    macro = tissue(*macro_size, seed + 2)
    tmp = tempfile.mkdtemp(prefix="ds_svsgen_")
    try:
        with tifffile.TiffWriter(path, bigtiff=False) as tif:
            for i, img in enumerate(pyramid):
                h, w, _ = img.shape
                tiles = encode_tiles(cut_tiles(img), compression, rate, tmp)
                tif.write(iter(tiles), shape=(h, w, 3), dtype=np.uint8, tile=(TILE, TILE), photometric="rgb", planarconfig="contig", description=description(w, h, compression, i == 0),
                          resolution=(10000 / 0.499, 10000 / 0.499, "CENTIMETER") if i == 0 else None,
                          software="Aperio Image Library v10.0.50", metadata=None)
                if i == 0:
                    tif.write(thumb, photometric="rgb", rowsperstrip=16,
                              description=description(w, h, compression, False, f" -> {thumb.shape[1]}x{thumb.shape[0]}"),
                              metadata=None)
            tif.write(label, photometric="rgb", rowsperstrip=label.shape[0], subfiletype=1,
                      description=f"Aperio Image Library v10.0.50\nlabel {label.shape[1]}x{label.shape[0]}",
                      metadata=None)
            tif.write(macro, photometric="rgb", rowsperstrip=macro.shape[0], subfiletype=9,
                      description=f"Aperio Image Library v10.0.50\nmacro {macro.shape[1]}x{macro.shape[0]}",
                      metadata=None)
        with tifffile.TiffFile(path, mode="r+b") as tif:
            for page in tif.pages:
                if page.is_tiled:
                    page.tags["Compression"].overwrite(compression)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--height", type=int, default=760)
    ap.add_argument("--compression", type=int, choices=[33003, 33005], default=33003)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rate", type=float, default=12, help="opj_compress -r compression ratio")
    ap.add_argument("--levels", type=int, default=3)
    a = ap.parse_args()
    make_svs(a.out, a.width, a.height, a.compression, a.seed, a.rate, a.levels)


if __name__ == "__main__":
    main()
