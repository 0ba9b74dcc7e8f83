#!/usr/bin/python3
# Writes a Leica SCN as the SCN400 lays it out, as far as OpenSlide's format page and leica
# driver describe it: directory 0 (tiled) carries the XML description, an scn root in Leica's
# namespace holding one collection (the slide: sizeX/sizeY in nm, a base64 barcode) of images;
# each image has a view (its size and offset on the slide, in nm), scan settings (objective,
# numerical aperture, illumination source) and pixels: one dimension per resolution, each naming
# its TIFF directory (ifd). The image that covers the whole slide from (0, 0) is the macro; the
# others are main images placed at their offsets (two here, overlapping a little, so which one
# shows where they overlap is tested: OpenSlide shows the earlier one). Directories are tiled JPEG (PIL) written by tifffile; the main
# images' first directory has its resolution in pixels per centimetre (OpenSlide's mpp).
#
#   /usr/bin/python3 scripts/gen_leica.py OUT.scn [--scale S] [--tile T]
import argparse
import base64

import numpy as np
import tifffile
from PIL import Image
from synthetic_tissue import jpeg, tissue as _tissue  # noqa: E402


def tissue(w, h, seed):
    return _tissue(w, h, seed, cell=40)


NS = "http://www.leica-microsystems.com/scn/2010/10/01"


def image_xml(name, view, dims, objective, illumination="brightfield"):
    """view: (sizeX, sizeY, offsetX, offsetY) nm; dims: [(width, height, ifd)]."""
    d = "".join(f'<dimension sizeX="{w}" sizeY="{h}" r="{i}" ifd="{ifd}"/>' for i, (w, h, ifd) in enumerate(dims))
    return (f'<image name="{name}" uuid="urn:uuid:{name}"><creationDate>2012-10-05T14:55:26.92Z</creationDate>'
            '<device model="Leica SCN400;Leica SCN" version="1.4.0.10878 2012/05/10 13:41:59;1.4.0.11046"/>'
            f'<pixels sizeX="{dims[0][0]}" sizeY="{dims[0][1]}">{d}</pixels>'
            f'<view sizeX="{view[0]}" sizeY="{view[1]}" offsetX="{view[2]}" offsetY="{view[3]}" spacingZ="0"/>'
            f'<scanSettings><objectiveSettings><objective>{objective}</objective></objectiveSettings>'
            '<illuminationSettings><numericalAperture>0.40</numericalAperture>'
            f'<illuminationSource>{illumination}</illuminationSource></illuminationSettings></scanSettings>'
            '</image>')


def make_leica(path, scale=1, tile=64, seed=2, barcode="LS-1234", nm=None, levels=3, quality=85,
               macro_size=(200, 120)):
    """A 1 x 0.6 mm slide (nm units), the main images at `nm` nm/px (default 500 / scale) with
    `levels` resolutions each, the macro at macro_size and half that."""
    nm = nm or 500 // scale  # nm per pixel at the main images' full resolution
    slide_w, slide_h = 1_000_000, 600_000
    mains = [((500_000, 300_000, 250_000, 150_000), seed), ((200_000, 200_000, 60_000, 60_000), seed + 1)]
    images, dirs, ifd = [], [], 2  # directories 0 and 1: the macro
    mw, mh = macro_size
    macro_dims = [(mw, mh, 0), (mw // 2, mh // 2, 1)]
    macro = tissue(mw, mh, seed + 9)
    dirs.append(macro)
    dirs.append(np.asarray(Image.fromarray(macro).resize((mw // 2, mh // 2), Image.LANCZOS)))
    for k, (view, s) in enumerate(mains):
        w, h = view[0] // nm, view[1] // nm
        base = tissue(w, h, s)
        dims = []
        for level in range(levels):
            lw, lh = w >> level, h >> level
            dirs.append(base if level == 0 else np.asarray(Image.fromarray(base).resize((lw, lh), Image.LANCZOS)))
            dims.append((lw, lh, ifd))
            ifd += 1
        images.append(image_xml(f"main{k}", view, dims, "20"))
    bc = base64.b64encode(barcode.encode()).decode()
    xml = (f'<?xml version="1.0" encoding="utf-8"?>\n<scn xmlns="{NS}"><collection name="slide" '
           f'uuid="urn:uuid:c" sizeX="{slide_w}" sizeY="{slide_h}"><barcode>{bc}</barcode>'
           + image_xml("macro", (slide_w, slide_h, 0, 0), macro_dims, "1") + "".join(images)
           + "</collection></scn>")
    with tifffile.TiffWriter(path, bigtiff=False) as tif:
        for i, img in enumerate(dirs):
            h, w, _ = img.shape
            tw, th = -(-w // tile), -(-h // tile)
            canvas = np.zeros((th * tile, tw * tile, 3), np.uint8)
            canvas[:h, :w] = img
            tiles = [jpeg(canvas[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile], quality) for r in range(th)
                     for c in range(tw)]
            res = (10000 / (nm / 1000), 10000 / (nm / 1000), "CENTIMETER") if i == 2 else None
            # compression="zlib" only so tifffile takes the bytes as tiles even when there is one;
            # the tag is set to JPEG below.
            tif.write(iter(tiles), shape=(h, w, 3), dtype=np.uint8, tile=(tile, tile), photometric="rgb",
                      planarconfig="contig", compression="zlib", description=xml if i == 0 else None, metadata=None,
                      resolution=res, software="Leica SCN")
    with tifffile.TiffFile(path, mode="r+b") as tif:
        for page in tif.pages:
            page.tags["Compression"].overwrite(7)
            page.tags["PhotometricInterpretation"].overwrite(6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--scale", type=int, default=1, help="main images at 500/scale nm per pixel")
    ap.add_argument("--tile", type=int, default=64)
    a = ap.parse_args()
    make_leica(a.out, a.scale, a.tile)


if __name__ == "__main__":
    main()
