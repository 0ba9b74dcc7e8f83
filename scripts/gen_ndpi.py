#!/usr/bin/python3
# Writes a Hamamatsu NDPI file as NanoZoomer scanners lay them out (OpenSlide's format page,
# tifffile's NDPI reader): a little-endian classic TIFF whose header and next-directory offsets
# are 64-bit, with the high 32 bits of each entry's value/offset field in an array after the
# directory; one directory per image, each one strip holding a whole JPEG; pyramid levels widest
# first (SourceLens 65421 = the objective power of that level), then the macro image (SourceLens
# -1) and a map of non-empty regions (-2); the level JPEGs carry restart markers every
# `restart` MCUs and tag 65426 lists where each restart interval starts (offsets from the JPEG's
# start; 65432 their high 32 bits); the smallest level has no restart markers; ASCII values are
# always out of line; tags unsorted; resolution in pixels per centimetre; a key=value map (65449).
# The JPEGs are written by libjpeg-turbo's cjpeg (or vips jpegsave); a level wider than 65535 px
# is several cjpeg JPEGs of the same tables whose restart intervals are interleaved row by row
# into one scan, with 0 as the SOF width, as NDPI does. Only the TIFF container is ours; a file
# counts when OpenSlide opens it as vendor "hamamatsu" and tifffile reads it as NDPI (the tests
# check both). `hole` puts that many bytes of sparse gap after the header, so offsets pass 4 GB.
#
#   /usr/bin/python3 scripts/gen_ndpi.py OUT.ndpi [--width W --height H --sampling 2x1 ...]
import argparse
import os
import re
import struct
import subprocess
import tempfile

import numpy as np
from PIL import Image
from synthetic_tissue import tissue as _tissue  # noqa: E402


def tissue(w, h, seed):
    return _tissue(w, h, seed, stripes=(2, 29, 17, 40))


ASCII, SHORT, LONG, RATIONAL, SLONG, FLOAT = 2, 3, 4, 5, 9, 11
RST = re.compile(rb"\xff[\xd0-\xd7]")  # in entropy-coded data 0xFF is followed by 0x00 or a marker


def encode(img, tmp, sampling, restart, quality, encoder):
    """A baseline JPEG of `img` with a restart marker every `restart` MCUs (0: none)."""
    src, dst = os.path.join(tmp, "in.ppm"), os.path.join(tmp, "out.jpg")
    Image.fromarray(img).save(src)
    if encoder == "cjpeg":
        cmd = ["cjpeg", "-quality", str(quality), "-sample", sampling, "-outfile", dst]
        if restart:
            cmd[1:1] = ["-restart", f"{restart}B"]
        subprocess.run(cmd + [src], check=True)
    else:  # vips: 4:2:0 ("auto" at Q < 90) or 4:4:4 ("off")
        mode = "off" if sampling == "1x1" else "on"
        subprocess.run(["vips", "jpegsave", src, dst, "--Q", str(quality), "--restart-interval", str(restart),
                        "--subsample-mode", mode, "--strip"], check=True)
    with open(dst, "rb") as f:
        return f.read()


def header_end(jpeg):
    """Offset just past the SOS segment, and the SOF's offset."""
    pos, sof = 2, None
    while True:
        assert jpeg[pos] == 0xFF
        m = jpeg[pos + 1]
        seg = struct.unpack(">H", jpeg[pos + 2:pos + 4])[0]
        if m in (0xC0, 0xC1, 0xC2):
            sof = pos
        pos += 2 + seg
        if m == 0xDA:
            return pos, sof


def intervals(jpeg):
    """The entropy-coded data of each restart interval (markers removed), in order."""
    start, _ = header_end(jpeg)
    end = jpeg.rindex(b"\xff\xd9")
    cuts = [m.start() for m in RST.finditer(jpeg, start, end)]
    bounds = [start] + [c + 2 for c in cuts]
    return [jpeg[b:e] for b, e in zip(bounds, cuts + [end])]


def join(header, parts):
    """A scan from interval data: RST0..7 between intervals, EOI at the end."""
    body = bytearray(header)
    for k, p in enumerate(parts):
        body += p
        body += bytes([0xFF, 0xD0 + k % 8]) if k + 1 < len(parts) else b"\xff\xd9"
    return bytes(body)


def encode_level(img, tmp, sampling, restart, quality, encoder, pieces=1):
    """One JPEG for the level; `pieces` > 1 encodes vertical slices and interleaves their
    intervals (levels wider than libjpeg can encode), setting the SOF width to 0 past 65535."""
    h, w, _ = img.shape
    if pieces == 1:
        return encode(img, tmp, sampling, restart, quality, encoder)
    step = w // pieces
    jpegs = [encode(img[:, k * step:(k + 1) * step], tmp, sampling, restart, quality, encoder) for k in range(pieces)]
    head, sof = header_end(jpegs[0])
    for j in jpegs[1:]:  # the same tables and sampling: all but the SOF's width agree
        assert header_end(j)[0] == head and j[:sof + 7] == jpegs[0][:sof + 7] and j[sof + 9:head] == jpegs[0][sof + 9:head]
    mcu_w = 8 * (jpegs[0][sof + 11] >> 4)  # the first component's horizontal sampling factor
    per_row = step // mcu_w // restart      # intervals per MCU row in each slice
    per = [intervals(j) for j in jpegs]
    rows = len(per[0]) // per_row
    parts = [p for r in range(rows) for k in range(pieces) for p in per[k][r * per_row:(r + 1) * per_row]]
    header = bytearray(jpegs[0][:head])
    header[sof + 7:sof + 9] = struct.pack(">H", w if w <= 65535 else 0)
    return join(bytes(header), parts)


def mcu_starts(jpeg):
    """Offset (from the JPEG's start) of each restart interval's data: tag 65426."""
    start, _ = header_end(jpeg)
    return [start] + [m.start() + 2 for m in RST.finditer(jpeg, start)]


class NdpiWriter:
    """Images first (JPEG strips and out-of-line values), then the directories, linked in order."""

    def __init__(self, f, hole=0):
        self.f = f
        f.write(b"II*\x00" + b"\x00" * 12)  # first-directory offset (8 bytes), patched at the end
        if hole:
            f.seek(hole, os.SEEK_CUR)
        self.dirs = []

    def blob(self, data):
        if self.f.tell() % 2:
            self.f.write(b"\x00")
        at = self.f.tell()
        self.f.write(data)
        return at

    def add(self, entries):
        """entries: (tag, type, count, value bytes) in file order; values longer than the 4-byte
        field go out of line, and ASCII always; a LONG in place may carry 8 bytes (NDPI's high
        bytes: StripOffsets past 4 GB)."""
        size = {ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, SLONG: 4, FLOAT: 4}
        fixed = []
        for tag, typ, count, data in entries:
            if size[typ] * count > 4 or typ == ASCII:
                off = self.blob(data)
                fixed.append((tag, typ, count, struct.pack("<Q", off)))
            else:
                fixed.append((tag, typ, count, data.ljust(8, b"\x00")))
        self.dirs.append(fixed)

    def close(self):
        offsets = []
        for fixed in self.dirs:
            if self.f.tell() % 2:
                self.f.write(b"\x00")
            offsets.append(self.f.tell())
            n = len(fixed)
            self.f.write(struct.pack("<H", n))
            for tag, typ, count, v in fixed:
                self.f.write(struct.pack("<HHI", tag, typ, count) + v[:4])
            self.f.write(b"\x00" * 8)  # next-directory offset, patched below
            for tag, typ, count, v in fixed:
                self.f.write(v[4:8])
        for i, off in enumerate(offsets):
            nxt = offsets[i + 1] if i + 1 < len(offsets) else 0
            n = len(self.dirs[i])
            self.f.seek(off + 2 + 12 * n)
            self.f.write(struct.pack("<Q", nxt))
        self.f.seek(4)
        self.f.write(struct.pack("<Q", offsets[0]))


def ascii(s):
    b = s.encode() + b"\x00"
    return (ASCII, len(b), b)


def make_ndpi(path, width=2048, height=1536, levels=3, sampling="2x1", restart=32, quality=85, seed=3,
              encoder="cjpeg", lens=20.0, mpp=0.2265, hole=0, pieces=1, write_starts=True, high_starts=False,
              macro_size=(640, 240)):
    """Writes the file; returns, per level directory, the JPEG's file offset and its interval starts."""
    base = tissue(width, height, seed)
    imgs = [base]
    for _ in range(1, levels):
        p = imgs[-1]
        imgs.append(np.asarray(Image.fromarray(p).resize((p.shape[1] // 4, p.shape[0] // 4), Image.LANCZOS)))
    macro = tissue(*macro_size, seed + 1)
    mapimg = np.full((60, 80, 3), 128, np.uint8)
    info = []
    with tempfile.TemporaryDirectory(prefix="ds_ndpigen_") as tmp, open(path, "wb") as f:
        w = NdpiWriter(f, hole)
        props = ("[Slide]\r\nObjective.Lens.Magnificant=20\r\nCamera.Type=C13440\r\nStage.Centre.X=12345"
                 "\r\nNDP.S/N=ds-000042\r\nEmpty=\r\n")
        for i, img in enumerate(imgs):
            last = i == len(imgs) - 1
            # the restart interval must divide the MCU row (OpenSlide's rule; the scanner's too)
            per_row = -(-img.shape[1] // pieces // (16 if sampling in ("2x1", "2x2") else 8))
            ri = max(d for d in range(1, min(restart, per_row) + 1) if per_row % d == 0)
            jpeg = encode_level(img, tmp, sampling, 0 if last else ri, quality, encoder, pieces if i == 0 else 1)
            at = w.blob(jpeg)
            starts = mcu_starts(jpeg) if not last else []
            info.append((at, starts))
            h, wd, _ = img.shape
            e = [(65420, LONG, 1, struct.pack("<I", 1)),
                 (256, LONG, 1, struct.pack("<I", wd)), (257, LONG, 1, struct.pack("<I", h)),
                 (258, SHORT, 3, struct.pack("<HHH", 8, 8, 8)), (259, SHORT, 1, struct.pack("<H", 7)),
                 (262, SHORT, 1, struct.pack("<H", 6)), (271, *ascii("Hamamatsu")),
                 (272, *ascii("NanoZoomer S60")), (273, LONG, 1, struct.pack("<Q", at)),
                 (277, SHORT, 1, struct.pack("<H", 3)), (278, LONG, 1, struct.pack("<I", h)),
                 (279, LONG, 1, struct.pack("<I", len(jpeg))),
                 (282, RATIONAL, 1, struct.pack("<II", round(10000 / mpp * 4 ** -i * 1000), 1000)),
                 (283, RATIONAL, 1, struct.pack("<II", round(10000 / mpp * 4 ** -i * 1000), 1000)),
                 (296, SHORT, 1, struct.pack("<H", 3)), (305, *ascii("NDP.scan 3.4.0")),
                 (306, *ascii("2026:01:02 03:04:05")),
                 (65421, FLOAT, 1, struct.pack("<f", lens / 4 ** i)),
                 (65422, SLONG, 1, struct.pack("<i", -1234567)), (65423, SLONG, 1, struct.pack("<i", 7654321)),
                 (65424, SLONG, 1, struct.pack("<i", 0)), (65425, LONG, 1, struct.pack("<I", 0)),
                 (65427, *ascii("ds-generated slide")), (65442, *ascii("ds-000042"))]
            if i == 0:
                e.append((65449, *ascii(props)))
            if starts and write_starts:
                e.append((65426, LONG, len(starts), struct.pack(f"<{len(starts)}I", *[s & 0xFFFFFFFF for s in starts])))
                if high_starts:
                    e.append((65432, LONG, len(starts), struct.pack(f"<{len(starts)}I", *[s >> 32 for s in starts])))
            # unsorted, as NDPI writes them: its own tags first
            e.sort(key=lambda t: (t[0] < 65000, t[0]))
            w.add(e)
        for lens_value, img in ((-1.0, macro), (-2.0, mapimg)):
            jpeg = encode(img, tmp, "2x2", 0, 90, "cjpeg")
            at = w.blob(jpeg)
            h, wd, _ = img.shape
            w.add([(65420, LONG, 1, struct.pack("<I", 1)), (256, LONG, 1, struct.pack("<I", wd)),
                   (257, LONG, 1, struct.pack("<I", h)), (259, SHORT, 1, struct.pack("<H", 7)),
                   (273, LONG, 1, struct.pack("<Q", at)), (278, LONG, 1, struct.pack("<I", h)),
                   (279, LONG, 1, struct.pack("<I", len(jpeg))), (65421, FLOAT, 1, struct.pack("<f", lens_value)),
                   (65424, SLONG, 1, struct.pack("<i", 0))])
        w.close()
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--height", type=int, default=1536)
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--sampling", default="2x1", help="cjpeg -sample: 2x1 (4:2:2), 2x2 (4:2:0), 1x1 (4:4:4)")
    ap.add_argument("--restart", type=int, default=32, help="MCUs per restart interval (one tile)")
    ap.add_argument("--quality", type=int, default=85)
    ap.add_argument("--encoder", choices=["cjpeg", "vips"], default="cjpeg")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--hole", type=int, default=0, help="sparse bytes after the header (offsets past 4 GB)")
    ap.add_argument("--pieces", type=int, default=1, help="encode level 0 in this many slices (widths > 65535)")
    ap.add_argument("--no-mcu-starts", action="store_true", help="leave out tag 65426")
    a = ap.parse_args()
    make_ndpi(a.out, a.width, a.height, a.levels, a.sampling, a.restart, a.quality, a.seed, a.encoder,
              hole=a.hole, pieces=a.pieces, write_starts=not a.no_mcu_starts)


if __name__ == "__main__":
    main()
