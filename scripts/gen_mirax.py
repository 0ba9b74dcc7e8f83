#!/usr/bin/python3
# Writes a 3DHistech MIRAX slide (S.mrxs beside a folder S/) as the Pannoramic scanners lay it out,
# as far as OpenSlide's format page and mirax driver describe it: Slidedat.ini (groups GENERAL,
# HIERARCHICAL, DATAFILE, one per zoom level and one per associated image), Index.dat (version
# "01.02", the slide id, then tables of little-endian int32 pointers to pages of image records:
# image index, offset, length, data file) and Data*.dat files holding the images back to back.
# The scanner's camera takes photos of D x D images (CameraImageDivisionsPerSide) that overlap
# their neighbours by about OVERLAP_X/Y pixels; each photo's level-0 position is kept in
# VIMSLIDE_POSITION_BUFFER (9-byte records: a flag, int32 x, int32 y) or, zlib-compressed, in
# StitchingIntensityLayer. Zoom level k (k > 0) halves level k-1 (IMAGE_CONCAT_FACTOR 1; --concat
# gives other factors, e.g. 0 1 2: level 2 a quarter of level 1): each of
# its images holds the photos of a block of 2^k x 2^k level-0 images, each shrunk by 2^k, side by
# side. Photos are cut from one synthetic tissue image at their positions, so neighbours show the
# same tissue where they overlap.
#
#   /usr/bin/python3 scripts/gen_mirax.py OUT.mrxs [--cols C --rows R --divisions D --image W H
#       --levels N --overlap X Y --positions buffer|stitching|grid --jitter J --format JPEG|PNG|BMP24]
# tests/fixtures/slides/mirax/mirax.mrxs: --cols 3 --rows 2 --divisions 2 --image 96 64 --levels 3
#   --overlap 6 4 --jitter 3
import argparse
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image
from synthetic_tissue import jpeg, tissue  # noqa: E402

SLIDE_ID = "5b0a1f3c-7d2e-4c9a-b6f1-0e8d2a4c6b19"


def encode(arr, fmt):
    if fmt == "JPEG":
        return jpeg(arr, q=88)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG" if fmt == "PNG" else "BMP")
    return buf.getvalue()


def camera_positions(cols, rows, divisions, w, h, overlap, jitter, rng):
    """Each photo's level-0 top-left corner, row by row: the nominal grid (photo size less the
    overlap) moved by up to `jitter` pixels, as the stage's drift moves a scanner's photos."""
    pos = []
    for yp in range(rows):
        for xp in range(cols):
            x = xp * (w * divisions - overlap[0]) + 20
            y = yp * (h * divisions - overlap[1]) + 20
            if jitter:
                x += int(rng.integers(-jitter, jitter + 1))
                y += int(rng.integers(-jitter, jitter + 1))
            pos.append((x, y))
    return pos


def make_mirax(path, cols=3, rows=2, divisions=2, image=(96, 64), levels=3, overlap=(6, 4), positions="buffer",
               jitter=3, fmt="JPEG", seed=5, associated=True, concat=None, pages=1):
    """concat: each level's IMAGE_CONCAT_FACTOR (default 0, then 1s); pages: each level's records
    over that many pages, one after the other (each page's next pointer naming the one after it)."""
    concat = list(concat) if concat else [0] + [1] * (levels - 1)
    assert len(concat) == levels and concat[0] == 0
    factor = [1 << sum(concat[:k + 1]) for k in range(levels)]
    assert path.endswith(".mrxs")
    rng = np.random.default_rng(seed)
    w, h = image
    d = divisions
    nx, ny = cols * d, rows * d
    pos = camera_positions(cols, rows, d, w, h, overlap, jitter, rng)
    if positions == "grid":  # no stored positions: OpenSlide places photos on the nominal grid
        pos = [((i % cols) * (w * d - overlap[0]), (i // cols) * (h * d - overlap[1])) for i in range(cols * rows)]
    truth_w = max(x for x, _ in pos) + w * d + 40
    truth_h = max(y for _, y in pos) + h * d + 40
    truth = tissue(truth_w, truth_h, seed, stripes=(1, 23, 19, 30))

    def photo(cp):
        x, y = pos[cp]
        x, y = max(x, 0), max(y, 0)
        return truth[y:y + h * d, x:x + w * d]

    folder = path[:-len(".mrxs")]
    os.makedirs(folder, exist_ok=True)
    data = [bytearray(), bytearray()]  # Data0000.dat: the levels; Data0001.dat: the rest
    for i, blob in enumerate(data):
        blob += b"01.02" + SLIDE_ID.encode() + b"%03d" % i + bytes(256)

    def store(file, payload):
        off = len(data[file])
        data[file] += payload
        return off, len(payload), file

    level_records = []
    for k in range(levels):
        c = factor[k]
        per_side = max(1, c // d)  # photos an image holds across
        records = []
        for y in range(0, ny, c):
            for x in range(0, nx, c):
                if k == 0:  # one of a photo's D x D images
                    xp, yp = x // d, y // d
                    sx, sy = (x % d) * w, (y % d) * h
                    img = photo(yp * cols + xp)[sy:sy + h, sx:sx + w]
                elif c < d:  # part of a photo: c x c of its images, shrunk by c
                    xp, yp = x // d, y // d
                    sx, sy = (x % d) * w, (y % d) * h
                    part = photo(yp * cols + xp)[sy:sy + h * c, sx:sx + w * c]
                    img = np.asarray(Image.fromarray(part).resize((w, h), Image.BOX))
                else:  # per_side x per_side photos, each shrunk by c, side by side
                    tw, th = w // per_side, h // per_side
                    img = np.full((h, w, 3), 255, np.uint8)
                    for yi in range(per_side):
                        for xi in range(per_side):
                            xp, yp = x // d + xi, y // d + yi
                            if xp < cols and yp < rows:
                                small = Image.fromarray(photo(yp * cols + xp)).resize((tw, th), Image.BOX)
                                img[yi * th:(yi + 1) * th, xi * tw:(xi + 1) * tw] = np.asarray(small)
                records.append((y * nx + x, *store(0, encode(np.ascontiguousarray(img), fmt))))
        level_records.append(records)

    nonhier = []  # (name, [(value, section, {key: value}, payload or None)])
    if associated:
        shots = [("ScanDataLayer_SlideThumbnail", "THUMBNAIL_IMAGE_TYPE", (180, 60)),
                 ("ScanDataLayer_SlideBarcode", "BARCODE_IMAGE_TYPE", (50, 60)),
                 ("ScanDataLayer_SlidePreview", "PREVIEW_IMAGE_TYPE", (120, 40))]
        vals = []
        for j, (value, key, (aw, ah)) in enumerate(shots):
            img = tissue(aw, ah, seed + 10 + j)
            vals.append((value, f"NONHIERLAYER_0_VAL_{j}_SECTION", {key: "JPEG"}, store(1, jpeg(img, q=90))))
        nonhier.append(("Scan data layer", vals))
    if positions in ("buffer", "stitching"):
        raw = b"".join(struct.pack("<Bii", 1, x, y) for x, y in pos)
        if positions == "buffer":
            nonhier.append(("VIMSLIDE_POSITION_BUFFER", [("default", "NONHIERLAYER_1_VAL_0_SECTION", {},
                                                          store(1, raw))]))
        else:
            nonhier.append(("StitchingIntensityLayer", [("StitchingIntensityLevel", "NONHIERLAYER_1_VAL_0_SECTION",
                                                         {}, store(1, zlib.compress(raw)))]))

    # Index.dat: header, the two tables, then the pages they point to.
    index = bytearray(b"01.02" + SLIDE_ID.encode())
    roots_at = len(index)
    index += bytes(8)
    hier_table = len(index)
    index += bytes(4 * levels)
    n_nonhier = sum(len(v) for _, v in nonhier)
    nonhier_table = len(index)
    index += bytes(4 * n_nonhier)
    struct.pack_into("<ii", index, roots_at, hier_table, nonhier_table)
    for k, records in enumerate(level_records):
        head = len(index)
        struct.pack_into("<i", index, hier_table + 4 * k, head)
        index += struct.pack("<ii", 0, head + 8)
        chunks = [records[i::pages] for i in range(pages)]
        for i, chunk in enumerate(chunks):
            page = len(index)
            last = i == len(chunks) - 1
            index += struct.pack("<ii", len(chunk), 0 if last else page + 8 + 16 * len(chunk))
            for r in chunk:
                index += struct.pack("<iiii", *r)
    n = 0
    for _, vals in nonhier:
        for value, section, keys, (off, size, file) in vals:
            head = len(index)
            struct.pack_into("<i", index, nonhier_table + 4 * n, head)
            index += struct.pack("<ii", 0, head + 8)
            index += struct.pack("<ii", 1, 0) + struct.pack("<iiiii", 0, 0, off, size, file)
            n += 1

    ini = ["[GENERAL]", "SLIDE_VERSION=01.03", f"SLIDE_ID={SLIDE_ID}", "SLIDE_NAME=synthetic",
           "SLIDE_CREATIONDATETIME=24/11/2026 10:15:00", f"IMAGENUMBER_X={nx}", f"IMAGENUMBER_Y={ny}",
           "OBJECTIVE_MAGNIFICATION=20", "OBJECTIVE_NAME=Plan-Apochromat", f"CameraImageDivisionsPerSide={d}",
           "CURRENT_SLIDE_VERSION=1.9", "", "[HIERARCHICAL]", "HIER_COUNT=1", "HIER_0_NAME=Slide zoom level",
           f"HIER_0_COUNT={levels}"]
    for k in range(levels):
        ini += [f"HIER_0_VAL_{k}=ZoomLevel_{k}", f"HIER_0_VAL_{k}_SECTION=LAYER_0_LEVEL_{k}_SECTION"]
    ini += [f"NONHIER_COUNT={len(nonhier)}"]
    for i, (name, vals) in enumerate(nonhier):
        ini += [f"NONHIER_{i}_NAME={name}", f"NONHIER_{i}_COUNT={len(vals)}"]
        for j, (value, section, _, _) in enumerate(vals):
            ini += [f"NONHIER_{i}_VAL_{j}={value}", f"NONHIER_{i}_VAL_{j}_SECTION={section}"]
    ini += ["INDEXFILE=Index.dat", "", "[DATAFILE]", "FILE_COUNT=2", "FILE_0=Data0000.dat", "FILE_1=Data0001.dat"]
    for k in range(levels):
        c = factor[k]
        ini += ["", f"[LAYER_0_LEVEL_{k}_SECTION]", "LEVEL_NAME=", f"OVERLAP_X={overlap[0] / c:g}",
                f"OVERLAP_Y={overlap[1] / c:g}", f"MICROMETER_PER_PIXEL_X={0.2425 * c:.6f}",
                f"MICROMETER_PER_PIXEL_Y={0.2426 * c:.6f}", f"IMAGE_FORMAT={fmt}", "IMAGE_FILL_COLOR_BGR=16317688",
                f"DIGITIZER_WIDTH={w}", f"DIGITIZER_HEIGHT={h}", f"IMAGE_CONCAT_FACTOR={concat[k]}"]
    for _, vals in nonhier:
        for _, section, keys, _ in vals:
            ini += ["", f"[{section}]"] + [f"{key}={value}" for key, value in keys.items()]
    with open(os.path.join(folder, "Slidedat.ini"), "wb") as f:
        f.write(b"\xef\xbb\xbf" + "\r\n".join(ini + [""]).encode())
    with open(os.path.join(folder, "Index.dat"), "wb") as f:
        f.write(index)
    for i, blob in enumerate(data):
        with open(os.path.join(folder, f"Data{i:04d}.dat"), "wb") as f:
            f.write(blob)
    # The .mrxs itself: scanners write a small JPEG of the slide here; OpenSlide only needs it to exist.
    with open(path, "wb") as f:
        f.write(jpeg(tissue(64, 24, seed + 20)))
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--cols", type=int, default=3, help="photos across")
    ap.add_argument("--rows", type=int, default=2, help="photos down")
    ap.add_argument("--divisions", type=int, default=2, help="CameraImageDivisionsPerSide")
    ap.add_argument("--image", type=int, nargs=2, default=(96, 64), help="DIGITIZER_WIDTH and HEIGHT")
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--overlap", type=int, nargs=2, default=(6, 4))
    ap.add_argument("--positions", choices=("buffer", "stitching", "grid"), default="buffer")
    ap.add_argument("--jitter", type=int, default=3)
    ap.add_argument("--format", choices=("JPEG", "PNG", "BMP24"), default="JPEG")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--concat", type=int, nargs="+", help="each level's IMAGE_CONCAT_FACTOR (default 0 1 1 ...)")
    ap.add_argument("--pages", type=int, default=1, help="Index.dat pages per level")
    a = ap.parse_args()
    make_mirax(a.out, a.cols, a.rows, a.divisions, tuple(a.image), a.levels, tuple(a.overlap), a.positions, a.jitter,
               a.format, a.seed, concat=a.concat, pages=a.pages)


if __name__ == "__main__":
    main()
