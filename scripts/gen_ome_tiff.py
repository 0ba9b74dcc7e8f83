#!/usr/bin/python3
# Writes a pyramidal OME-TIFF as tifffile (and bioformats' bfconvert, QuPath, ...) write them:
# the full-resolution RGB image in the main IFD with OME-XML in its ImageDescription (Pixels
# PhysicalSizeX/Y and their units), the reduced levels (2x each) as its SubIFDs flagged
# reduced-resolution, tiled, Deflate-compressed (tifffile's encoder without imagecodecs).
# Written entirely by tifffile; OpenSlide 3.4 opens it as generic-tiff and reads level 0, libvips
# reads every level (tiffload --subifd): the tests compare with both.
#
#   /usr/bin/python3 scripts/gen_ome_tiff.py OUT.ome.tif [--width W --height H --mpp 0.25 --unit µm]
import argparse

import numpy as np
import tifffile
from PIL import Image
from synthetic_tissue import tissue as _tissue  # noqa: E402


def tissue(w, h, seed):
    return _tissue(w, h, seed, cell=40)


def make_ome(path, width=1100, height=900, levels=3, mpp=0.25, unit="µm", tile=256, seed=11):
    base = tissue(width, height, seed)
    pyramid = [base]
    for _ in range(1, levels):
        p = pyramid[-1]
        pyramid.append(np.asarray(Image.fromarray(p).resize((p.shape[1] // 2, p.shape[0] // 2), Image.LANCZOS)))
    opts = dict(tile=(tile, tile), compression="zlib", photometric="rgb")
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(base, subifds=levels - 1, metadata={"axes": "YXS", "PhysicalSizeX": mpp, "PhysicalSizeXUnit": unit,
                                                      "PhysicalSizeY": mpp, "PhysicalSizeYUnit": unit}, **opts)
        for img in pyramid[1:]:
            tif.write(img, subfiletype=1, **opts)
    return pyramid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--width", type=int, default=1100)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--mpp", type=float, default=0.25, help="PhysicalSizeX/Y, in --unit")
    ap.add_argument("--unit", default="µm")
    a = ap.parse_args()
    make_ome(a.out, a.width, a.height, a.levels, a.mpp, a.unit)


if __name__ == "__main__":
    main()
