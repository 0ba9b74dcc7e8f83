"""Crafted hostile inputs, written byte by byte: TIFFs whose directories claim far more than the
file holds, model files with absurd metadata, label CSVs that try to escape the output folder,
a pipeline config nested a hundred thousand tables deep.
Used by tests/test_hostile_input.py and as fuzz seeds (`python3 tests/hostile_files.py DIR`
writes every file into DIR)."""
import json
import os
import struct
import sys

# TIFF field types
SHORT, LONG = 3, 4


class Tiff:
    """A little-endian classic TIFF assembled from IFDs given as {tag: (type, [values])}; values
    that do not fit in an entry go into a data area after the directories. `share` lets several
    IFDs point at one stored array (tag -> offset of an earlier array)."""

    def __init__(self):
        self.ifds = []

    def add(self, tags, subifds_of=None):
        self.ifds.append(dict(tags))
        return len(self.ifds) - 1

    def bytes(self, chain=True, extra_next=None):
        head = 8
        sizes = [2 + 12 * len(t) + 4 for t in self.ifds]
        offs, pos = [], head
        for s in sizes:
            offs.append(pos)
            pos += s
        data = bytearray()
        data_base = pos
        shared = {}
        out = bytearray(b"II*\x00" + struct.pack("<I", offs[0]))
        for i, tags in enumerate(self.ifds):
            b = struct.pack("<H", len(tags))
            for tag in sorted(tags):
                typ, vals = tags[tag]
                if typ == "ifdref":  # SubIFD list pointing at other IFDs of this file
                    typ, vals = LONG, [offs[j] for j in vals]
                if typ == "shared":  # the array stored for an earlier IFD's tag, reused
                    key, count = vals
                    b += struct.pack("<HHII", tag, LONG, count, shared[key])
                    continue
                fmt = "<" + ("H" if typ == SHORT else "I") * len(vals)
                raw = struct.pack(fmt, *vals)
                if len(raw) <= 4:
                    b += struct.pack("<HHI", tag, typ, len(vals)) + raw.ljust(4, b"\x00")
                else:
                    shared[(i, tag)] = data_base + len(data)
                    b += struct.pack("<HHII", tag, typ, len(vals), data_base + len(data))
                    data += raw
            nxt = offs[i + 1] if chain and i + 1 < len(self.ifds) else (extra_next or 0)
            out += b + struct.pack("<I", nxt)
        return bytes(out + data)


def rgb_tiled(side, tile, offsets=None, counts=None):
    n = ((side + tile - 1) // tile) ** 2
    return {256: (LONG, [side]), 257: (LONG, [side]), 258: (SHORT, [8, 8, 8]), 259: (SHORT, [1]),
            262: (SHORT, [2]), 277: (SHORT, [3]), 322: (SHORT, [tile]), 323: (SHORT, [tile]),
            324: (LONG, offsets if offsets is not None else [0] * n),
            325: (LONG, counts if counts is not None else [0] * n)}


def short_offset_chain(n=300):
    """n chained directories, each claiming a 16000 x 16000 image in 16 px tiles (a million
    tiles) with offset arrays of one entry: libtiff pads each to the tile grid."""
    t = Tiff()
    for _ in range(n):
        t.add(rgb_tiled(16000, 16, [0], [0]))
    return t.bytes()


def shared_offset_arrays(n=64):
    """n directories of a million tiles each whose offset arrays are all one stored array: each
    is complete, together they are gigabytes of metadata from an 8 MB file."""
    t = Tiff()
    t.add(rgb_tiled(16000, 16))
    for _ in range(n - 1):
        tags = rgb_tiled(16000, 16, [0], [0])
        tags[324] = ("shared", ((0, 324), 1000000))
        tags[325] = ("shared", ((0, 325), 1000000))
        t.add(tags)
    return t.bytes()


def huge_side():
    """One directory declaring an 8,000,000 px square image."""
    t = Tiff()
    t.add(rgb_tiled(8_000_000, 16, [0], [0]))
    return t.bytes()


def huge_declared():
    """A 2^20 px square level 0 in 1024 px tiles (a million tiles, all absent: white) over a
    2048 px level 1 (also white): a legal 8 MB pyramid whose window grid at 224 px has tens of
    millions of windows."""
    t = Tiff()
    t.add(rgb_tiled(1 << 20, 1024))
    t.add(rgb_tiled(2048, 256))
    return t.bytes()


def subifd_storm():
    """A small image whose directory lists itself as a SubIFD 1000 times."""
    t = Tiff()
    tags = rgb_tiled(64, 16)
    tags[330] = ("ifdref", [0] * 1000)
    t.add(tags)
    return t.bytes()


def deep_json_model(path, depth=1_000_000):
    """A safetensors file whose metadata value nests JSON `depth` levels deep."""
    meta = {"__metadata__": {"format": "deepslide-model", "version": "1", "arch": "resnet18",
                             "classes": "[" * depth + "]" * depth, "mean": "[0.5,0.5,0.5]",
                             "std": "[0.2,0.2,0.2]", "patch_size": "32"}}
    header = json.dumps(meta).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)


def deep_toml_keys(parts=100_000):
    """A pipeline config whose one dotted key opens `parts` nested tables (toml++ bounds nested
    values, not dotted keys, and frees tables recursively)."""
    return (".".join(["a"] * parts) + " = 1\n").encode()


FILES = {
    "short_offset_chain.tif": short_offset_chain,
    "shared_offset_arrays.tif": shared_offset_arrays,
    "huge_side.tif": huge_side,
    "huge_declared.tif": huge_declared,
    "subifd_storm.tif": subifd_storm,
    "deep_keys.toml": deep_toml_keys,
}


def write_all(folder):
    os.makedirs(folder, exist_ok=True)
    for name, make in FILES.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(make())
    deep_json_model(os.path.join(folder, "deep_json.safetensors"), depth=100_000)


if __name__ == "__main__":
    write_all(sys.argv[1])
