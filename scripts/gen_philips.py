#!/usr/bin/python3
# Writes a Philips TIFF as Philips' scanners (IntelliSite UFS export) lay it out, as far as
# OpenSlide's format page and philips driver describe it: Software "Philips ...", and in the first
# ImageDescription a DataObject XML (ObjectType DPUfsImport) whose scanned-image array holds one WSI
# image with a PixelDataRepresentation per level (DICOM_PIXEL_SPACING, quoted row and column
# spacing in mm) and the label and macro as base64 JPEGs (PIM_DP_IMAGE_DATA). The pyramid is JPEG
# tiles (PIL, one complete JPEG per tile) in tiled directories flagged reduced-resolution past
# the first; each reduced level's directory is padded to whole tiles (black), which the pixel
# spacing lets a reader clip; some tiles are absent (byte count 0, half of them offset 0 too), as
# in slides scanned as several regions. Written by tifffile with pre-encoded tiles.
#
#   /usr/bin/python3 scripts/gen_philips.py OUT.tiff [--width W --height H --levels N --tile T]
import argparse
import base64
from xml.sax.saxutils import escape

import numpy as np
import tifffile
from PIL import Image
from synthetic_tissue import jpeg as _jpeg, tissue  # noqa: E402


def jpeg(arr, q=80):
    return _jpeg(arr, q)


def attr(name, value, pmsvr="IString"):
    return f'<Attribute Name="{name}" Group="0x0000" Element="0x0000" PMSVR="{pmsvr}">{value}</Attribute>\n'


def spacing(mm):
    return escape(f'"{mm:g}" "{mm:g}"', {'"': "&quot;"})


def description(mpp, levels, label_b64, macro_b64, tile):
    um = lambda x: x / 1000.0  # noqa: E731
    reps = "".join(
        '<DataObject ObjectType="PixelDataRepresentation">\n'
        + attr("DICOM_PIXEL_SPACING", spacing(um(mpp) * 2 ** i), "IDoubleArray")
        + attr("PIIM_PIXEL_DATA_REPRESENTATION_NUMBER", str(i), "IUInt32")
        + attr("PIIM_DP_PIXEL_DATA_REPRESENTATION_COLUMNS", str(tile), "IUInt32")
        + "</DataObject>\n" for i in range(levels))
    wsi = ('<DataObject ObjectType="DPScannedImage">\n'
           + attr("PIM_DP_IMAGE_TYPE", "WSI")
           + attr("DICOM_PIXEL_SPACING", spacing(um(mpp)), "IDoubleArray")
           + attr("PIM_DP_IMAGE_COLUMNS", "0", "IUInt32")
           + attr("DICOM_LOSSY_IMAGE_COMPRESSION_METHOD", '&quot;PHILIPS_DP_1_0&quot;', "IStringArray")
           + '<Attribute Name="PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE" Group="0x1001" Element="0x8b01" '
             'PMSVR="IDataObjectArray">\n<Array>\n' + reps + "</Array>\n</Attribute>\n"
           + "</DataObject>\n")
    assoc = lambda kind, data: ('<DataObject ObjectType="DPScannedImage">\n'  # noqa: E731
                                + attr("PIM_DP_IMAGE_TYPE", kind)
                                + attr("PIM_DP_IMAGE_DATA", data, "IString")
                                + "</DataObject>\n")
    return ('<?xml version="1.0" encoding="UTF-8" ?>\n<DataObject ObjectType="DPUfsImport">\n'
            + attr("DICOM_MANUFACTURER", "PHILIPS")
            + attr("DICOM_SOFTWARE_VERSIONS", '&quot;1.6.5&quot; &quot;20111209_R44&quot;', "IStringArray")
            + attr("DICOM_DERIVATION_DESCRIPTION", "tiff-useBigTIFF=1 &amp; tiff-useJpegTables=0 &lt;ok&gt;")
            + attr("PIM_DP_UFS_BARCODE", "MTIzNDU2")
            + attr("DICOM_EMPTY_VALUE", "")
            + '<Attribute Name="PIM_DP_SOURCE_FILE" Group="0x301D" Element="0x1000" PMSVR="IDataObjectArray">'
              '<Array><DataObject ObjectType="Nested">' + attr("NOT_A_PROPERTY", "x") + "</DataObject></Array>"
              "</Attribute>\n"
            + '<Attribute Name="PIM_DP_SCANNED_IMAGES" Group="0x301D" Element="0x1003" PMSVR="IDataObjectArray">\n'
              "<Array>\n" + wsi + assoc("LABELIMAGE", label_b64) + assoc("MACROIMAGE", macro_b64)
            + "</Array>\n</Attribute>\n</DataObject>\n")


def padded_tiles(img, tile, w_pad, h_pad):
    h, w, _ = img.shape
    canvas = np.zeros((h_pad, w_pad, 3), np.uint8)  # black padding: a reader that shows it is wrong
    canvas[:h, :w] = img
    return [canvas[r:r + tile, c:c + tile].copy() for r in range(0, h_pad, tile) for c in range(0, w_pad, tile)]


def make_philips(path, width=1280, height=1000, levels=4, tile=128, mpp=0.25, seed=3, sparse=True,
                 label_b64=None, macro_b64=None):
    """Returns the level images (unpadded). Level 0's directory is width x height (whole tiles or
    not, as given); reduced levels are floor(size / 2^i), padded up to whole tiles."""
    base = tissue(width, height, seed)
    pyramid = [base]
    for i in range(1, levels):
        pyramid.append(np.asarray(Image.fromarray(base).resize((width >> i, height >> i), Image.LANCZOS)))
    if label_b64 is None:
        label_b64 = base64.encodebytes(jpeg(tissue(120, 90, seed + 1))).decode()  # 76-column lines
    if macro_b64 is None:
        macro_b64 = base64.b64encode(jpeg(tissue(300, 110, seed + 2))).decode()
    desc = description(mpp, levels, label_b64, macro_b64, tile)
    empty = []
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for i, img in enumerate(pyramid):
            h, w, _ = img.shape
            wp, hp = (w, h) if i == 0 else (-(-w // tile) * tile, -(-h // tile) * tile)
            tiles = [jpeg(t, 85) for t in padded_tiles(img, tile, -(-w // tile) * tile, -(-h // tile) * tile)]
            cols = -(-wp // tile)
            gone = []
            if sparse and i < 2:  # a corner tile and an inner one of the two largest levels
                gone = [0, cols + 1] if len(tiles) > cols + 1 else [0]
                for k in gone:
                    tiles[k] = b""
            empty.append(gone)
            tif.write(iter(tiles), shape=(hp, wp, 3), dtype=np.uint8, tile=(tile, tile), photometric="rgb",
                      planarconfig="contig", subfiletype=0 if i == 0 else 1, software="Philips DP v1.0",
                      description=desc if i == 0 else "level=" + str(i), metadata=None)
    with tifffile.TiffFile(path, mode="r+b") as tif:
        for i, page in enumerate(tif.pages):
            page.tags["Compression"].overwrite(7)
            page.tags["PhotometricInterpretation"].overwrite(6)
            offsets = list(page.tags["TileOffsets"].value)
            for n, k in enumerate(empty[i]):
                if n % 2 == 0:
                    offsets[k] = 0
            page.tags["TileOffsets"].overwrite(offsets)
    return pyramid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=1000)
    ap.add_argument("--levels", type=int, default=4)
    ap.add_argument("--tile", type=int, default=128)
    a = ap.parse_args()
    make_philips(a.out, a.width, a.height, a.levels, a.tile)


if __name__ == "__main__":
    main()
