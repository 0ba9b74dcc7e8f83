#!/usr/bin/python3
# Writes a Ventana BIF as the iScan scanners lay it out, as far as OpenSlide's format page and
# ventana driver describe it: directory 0 the slide-label photograph ("Label Image", OpenSlide's
# macro) carrying the iScan XMP (XMLPacket, tag 700: Magnification, ScanRes, ...), then
# "Thumbnail", then the pyramid: tiled JPEG directories described "level=N mag=M quality=Q", the
# first with the EncodeInfo XMP that places its tiles: areas of interest (AOIs) in the level-0
# tile grid, serpentine tile numbering from the bottom row, and the joints between neighbours.
# By default every joint's OverlapX/Y is 0: OpenSlide then places the tiles on whole pixels.
# --overlap X Y writes joints that overlap by about X (RIGHT) and Y (UP) pixels, as a scanner's
# camera fields do, and areas placed a few pixels off the grid: OpenSlide then draws each tile at
# its area's position plus multiples of the confidence-weighted mean advance, at sub-pixel
# positions, and the tiles hold the tissue seen there (each cut from one larger image at its
# rounded position), the lower levels the level-0 tile grid shrunk (OpenSlide reads them as
# subtiles). --plain writes a "Ventana TIFF" (no EncodeInfo: one plain tiled grid per level).
# Tiles are PIL JPEGs written by tifffile.
#
#   /usr/bin/python3 scripts/gen_ventana.py OUT.bif [--cols C --rows R --levels N --tile T] [--plain]
#       [--overlap X Y]
# tests/fixtures/slides/ventana_overlap.bif: --cols 5 --rows 3 --tile 128 --levels 3 --overlap 11 7
import argparse

import numpy as np
import tifffile
from PIL import Image
from synthetic_tissue import jpeg, tissue  # noqa: E402


ISCAN = ('<?xml version="1.0" encoding="utf-8"?>\n<Metadata><iScan BuildVersion="3.3.0.1" '
         'BuildDate="5/28/2012" UnitNumber="BI10N0294" Magnification="{mag}" ScanRes="{res}" '
         'FocusMode="1" SlideAnnotation="" Z-layers="1" Z-spacing="1" LabelBoundary="0 0 0 0" '
         'ShowLabel="1" SessionMode="NS" /></Metadata>')


def tile_number(col, row, cols, rows):
    """The 1-based number OpenSlide gives tile (col, row) of an area: serpentine rows from the bottom."""
    r = rows - 1 - row  # rows numbered from the bottom
    c = cols - 1 - col if r % 2 else col
    return r * cols + c + 1


def joint(direction, k, overlap):
    """OverlapX, OverlapY and Confidence of an area's k-th joint: all 0 but the confidence without
    `overlap`, else about overlap's X (RIGHT) or Y (UP), varying from joint to joint."""
    if overlap is None:
        return 0, 0, 90 + k % 7
    ox, oy = overlap
    if direction == "RIGHT":
        return ox + k % 3 - 1, k % 2, 90 + k % 7
    return -(k % 2), oy + k % 3 - 1, 80 + k % 11


def area_joints(cols, rows):
    """(direction, tile1, tile2) of every joint of an area, in the order encode_info writes them."""
    joints = []
    for r in range(rows):
        for c in range(cols):
            if c + 1 < cols:
                joints.append(("RIGHT", tile_number(c, r, cols, rows), tile_number(c + 1, r, cols, rows)))
            if r + 1 < rows:  # UP: tile1 below tile2
                joints.append(("UP", tile_number(c, r + 1, cols, rows), tile_number(c, r, cols, rows)))
    return joints


def advances(tile, areas, overlap):
    """The tile advance OpenSlide derives: the tile size less the confidence-weighted mean overlap."""
    sums = {"RIGHT": [0, 0], "UP": [0, 0]}
    for _, _, cols, rows in areas:
        for k, (d, _, _) in enumerate(area_joints(cols, rows)):
            ox, oy, conf = joint(d, k, overlap)
            sums[d][0] += conf * (ox if d == "RIGHT" else oy)
            sums[d][1] += conf
    return tuple(tile - s / w for s, w in (sums["RIGHT"], sums["UP"]))


def encode_info(tile, areas, grid_rows, overlap=None, positions=None):
    """areas: (col0, row0, cols, rows) in the level-0 tile grid; positions: each area's top-left
    pixel (x, y), y from the top (whole tiles without them)."""
    infos, origins = [], []
    total_h = grid_rows * tile
    adv_y = advances(tile, areas, overlap)[1] if positions else tile
    heights = [int((rows - 1) * adv_y + tile) for _, _, _, rows in areas]
    bottom = max(y + h for (_, y), h in zip(positions, heights)) if positions else 0
    for i, (c0, r0, cols, rows) in enumerate(areas):
        jx = "".join('<TileJointInfo FlagJoined="1" Direction="{}" Tile1="{}" Tile2="{}" OverlapX="{}" '
                     'OverlapY="{}" Confidence="{}" />'.format(d, a, b, *joint(d, k, overlap))
                     for k, (d, a, b) in enumerate(area_joints(cols, rows)))
        # Pos-Y: from the bottom of the area to a line below every area.
        pos_x, pos_y = (c0 * tile, total_h - (r0 + rows) * tile)
        if positions:
            pos_x, pos_y = positions[i][0], bottom - positions[i][1] - heights[i]
        infos.append(f'<ImageInfo AOIScanned="1" AOIIndex="{i}" Width="{tile}" Height="{tile}" NumRows="{rows}" '
                     f'NumCols="{cols}" Pos-X="{pos_x}" Pos-Y="{pos_y}">{jx}</ImageInfo>')
        origins.append(f'<AOI{i} OriginX="{c0 * tile}" OriginY="{r0 * tile}" />')
    # An area the scanner skipped: ignored, and its origin still counted.
    infos.append(f'<ImageInfo AOIScanned="0" AOIIndex="{len(areas)}" Width="{tile}" Height="{tile}" NumRows="1" '
                 'NumCols="1" Pos-X="0" Pos-Y="0" />')
    origins.append(f'<AOI{len(areas)} OriginX="0" OriginY="0" />')
    return ('<?xml version="1.0" encoding="utf-8"?>\n<EncodeInfo Ver="2"><SlideInfo><AoiInfo XIMAGESIZE="0" '
            'YIMAGESIZE="0" /></SlideInfo><SlideStitchInfo>' + "".join(infos) + "</SlideStitchInfo><AoiOrigin>"
            + "".join(origins) + "</AoiOrigin></EncodeInfo>")


def overlapped_tiles(cols, rows, tile, areas, overlap, seed):
    """The level-0 tile grid of a BIF whose tiles overlap, and each area's top-left pixel: area i
    sits 3i, 2i pixels off its grid position, and each of its tiles shows the tissue where
    OpenSlide will draw it (cut from one larger image at the rounded position)."""
    adv_x, adv_y = advances(tile, areas, overlap)
    positions = [(round(c0 * adv_x) + 3 * i, round(r0 * adv_y) + 2 * i) for i, (c0, r0, _, _) in enumerate(areas)]
    scene = tissue((cols + 1) * tile, (rows + 1) * tile, seed)
    grid = np.full((rows * tile, cols * tile, 3), 255, np.uint8)
    for (c0, r0, area_cols, area_rows), (ax, ay) in zip(areas, positions):
        for r in range(area_rows):
            for c in range(area_cols):
                x, y = round(ax + c * adv_x), round(ay + r * adv_y)
                grid[(r0 + r) * tile:(r0 + r + 1) * tile, (c0 + c) * tile:(c0 + c + 1) * tile] = \
                    scene[y:y + tile, x:x + tile]
    return grid, positions


def make_ventana(path, cols=4, rows=3, tile=256, levels=3, mag=40, res=0.2325, seed=5, plain=False,
                 areas=((0, 0, 2, 2), (2, 1, 2, 2)), macro_size=(220, 80), overlap=None):
    """Level 0 is cols x rows tiles; level i is downsampled 2^i (mag / 2^i). Each area needs two
    rows and two columns at least: OpenSlide averages the joints of both directions. overlap:
    (X, Y), the tiles' mean overlap in pixels (see overlapped_tiles); None: none."""
    w, h = cols * tile, rows * tile
    base, positions = tissue(w, h, seed), None
    if overlap is not None and not plain:
        base, positions = overlapped_tiles(cols, rows, tile, areas, overlap, seed)
    macro = tissue(*macro_size, seed + 1)
    thumb = np.asarray(Image.fromarray(base).resize((w // 8, h // 8), Image.LANCZOS))
    xmp0 = lambda s: [(700, 1, len(s.encode()), s.encode(), False)]  # noqa: E731
    with tifffile.TiffWriter(path, bigtiff=False) as tif:
        tif.write(macro, photometric="rgb", rowsperstrip=macro.shape[0], description="Label Image", metadata=None,
                  extratags=xmp0(ISCAN.format(mag=mag, res=res)))
        tif.write(thumb, photometric="rgb", rowsperstrip=thumb.shape[0], description="Thumbnail", metadata=None)
        for i in range(levels):
            lw, lh = -(-w // 2 ** i), -(-h // 2 ** i)
            img = base if i == 0 else np.asarray(Image.fromarray(base).resize((lw, lh), Image.LANCZOS))
            tw, th = -(-lw // tile), -(-lh // tile)
            canvas = np.full((th * tile, tw * tile, 3), 255, np.uint8)
            canvas[:lh, :lw] = img
            tiles = [jpeg(canvas[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile]) for r in range(th)
                     for c in range(tw)]
            extra = xmp0(encode_info(tile, areas, rows, overlap, positions)) if i == 0 and not plain else []
            tif.write(iter(tiles), shape=(lh, lw, 3), dtype=np.uint8, tile=(tile, tile), photometric="rgb",
                      planarconfig="contig", description=f"level={i} mag={mag // 2 ** i:g} quality=90",
                      metadata=None, extratags=extra)
    with tifffile.TiffFile(path, mode="r+b") as tif:
        for page in tif.pages:
            if page.is_tiled:
                page.tags["Compression"].overwrite(7)
                page.tags["PhotometricInterpretation"].overwrite(6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--cols", type=int, default=4, help="level 0's width in tiles")
    ap.add_argument("--rows", type=int, default=3, help="level 0's height in tiles")
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--plain", action="store_true", help="a Ventana TIFF: no EncodeInfo, no areas")
    ap.add_argument("--overlap", type=int, nargs=2, metavar=("X", "Y"), help="tiles overlapping by about X, Y px")
    a = ap.parse_args()
    # Two areas: the left half, and the right half less its top row.
    half = max(2, a.cols // 2)
    areas = ((0, 0, half, a.rows), (half, 1, a.cols - half, a.rows - 1))
    make_ventana(a.out, cols=a.cols, rows=a.rows, tile=a.tile, levels=a.levels, plain=a.plain, areas=areas,
                 overlap=tuple(a.overlap) if a.overlap else None)


if __name__ == "__main__":
    main()
