# DICOM whole-slide images (issue 22) against an outside oracle: series written by pydicom
# (scripts/gen_dicom.py) from the tiles of a libvips pyramid, read back frame by frame by pydicom
# and decoded by PIL, assembled into each level. `deepslide read-region` must give exactly those
# pixels (JPEG, JPEG 2000 and uncompressed frames; TILED_FULL and TILED_SPARSE with a missing
# tile, white; a level split into a concatenation; frames small enough that DCMTK holds them),
# `info` the vips pyramid's levels, the mpp and objective power written, the associated images
# PIL decodes, and the regions the vips TIFF itself gives (the same JPEG tiles). Opening one instance file finds the rest of its series in the
# folder. Bad input (a DICOM that is no WSI, a missing frame, a truncated file, absurd sizes, a
# frame off the tile grid, a missing concatenation part, two series in one folder, a frame whose
# size contradicts the instance) must end in one error line naming the file, exit code 2.
import io
import json
import os
import random
import shutil
import subprocess
import sys

import numpy as np
import pydicom
from PIL import Image
from pydicom.encaps import generate_pixel_data_frame

SRC = os.environ.get("DS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(SRC, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_dicom  # noqa: E402
from cli_harness import DEEPSLIDE, check, error_line, failures, run, tempdir  # noqa: E402


def frames_of(ds):
    n = int(getattr(ds, "NumberOfFrames", 1))
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        return [bytes(f) for f in generate_pixel_data_frame(ds.PixelData, n)]
    size = ds.Rows * ds.Columns * 3
    return [ds.PixelData[i * size:(i + 1) * size] for i in range(n)]


def decode(ds, frame):
    if not ds.file_meta.TransferSyntaxUID.is_compressed:
        return np.frombuffer(frame, np.uint8).reshape(ds.Rows, ds.Columns, 3)
    return np.asarray(Image.open(io.BytesIO(frame)).convert("RGB"))


def oracle_levels(folder):
    """{(width, height): level image} and {flavor: image} from every instance, by pydicom + PIL."""
    levels, assoc = {}, {}
    for name in sorted(os.listdir(folder)):
        ds = pydicom.dcmread(os.path.join(folder, name))
        w, h = int(ds.TotalPixelMatrixColumns), int(ds.TotalPixelMatrixRows)
        tw, th = ds.Columns, ds.Rows
        cols = -(-w // tw)
        flavor = ds.ImageType[2]
        img = levels.get((w, h)) if flavor == "VOLUME" else None
        if img is None:
            img = np.full((-(-h // th) * th, cols * tw, 3), 255, np.uint8)
        first = int(getattr(ds, "ConcatenationFrameOffsetNumber", 0))
        for i, f in enumerate(frames_of(ds)):
            if ds.DimensionOrganizationType == "TILED_SPARSE":
                pos = ds.PerFrameFunctionalGroupsSequence[i].PlanePositionSlideSequence[0]
                x, y = pos.ColumnPositionInTotalImagePixelMatrix - 1, pos.RowPositionInTotalImagePixelMatrix - 1
            else:
                x, y = (first + i) % cols * tw, (first + i) // cols * th
            img[y:y + th, x:x + tw] = decode(ds, f)
        if flavor == "VOLUME":
            levels[(w, h)] = img
        else:
            assoc[flavor] = img[:h, :w]
    return {k: v[:k[1], :k[0]] for k, v in levels.items()}, assoc


def ours(path, x, y, level, w, h, out):
    p = run(["read-region", path, "--x", str(x), "--y", str(y), "--level", str(level), "--width", str(w),
             "--height", str(h), "--out", out])
    return np.asarray(Image.open(out).convert("RGB")) if p.returncode == 0 else None


def expected(img, lx, ly, w, h):
    out = np.full((h, w, 3), 255, np.uint8)
    x0, y0, x1, y1 = max(lx, 0), max(ly, 0), min(lx + w, img.shape[1]), min(ly + h, img.shape[0])
    if x0 < x1 and y0 < y1:
        out[y0 - ly:y1 - ly, x0 - lx:x1 - lx] = img[y0:y1, x0:x1]
    return out


def compare_slide(path, folder, tmp, what, rng, regions=6):
    p = run(["info", path])
    if p.returncode:
        return None
    info = json.loads(p.stdout)
    levels, assoc = oracle_levels(folder)
    dims = [(L["width"], L["height"]) for L in info["levels"]]
    check(dims == sorted(levels, reverse=True), f"{what}: levels {dims}, oracle {sorted(levels, reverse=True)}")
    check(info["vendor"] == "dicom", f"{what}: vendor {info['vendor']}")
    for i, L in enumerate(info["levels"]):
        img = levels.get((L["width"], L["height"]))
        if img is None:
            continue
        for k in range(regions):
            w, h = rng.randint(1, 300), rng.randint(1, 300)
            lx, ly = rng.randint(-50, L["width"] - 1), rng.randint(-50, L["height"] - 1)
            if k == 0:
                lx, ly, w, h = 0, 0, L["width"], L["height"]
            # level-0 coordinates whose floor(x / downsample) is lx
            x, y = int(np.ceil(lx * L["downsample"])), int(np.ceil(ly * L["downsample"]))
            lx, ly = int(np.floor(x / L["downsample"])), int(np.floor(y / L["downsample"]))
            got = ours(path, x, y, i, w, h, os.path.join(tmp, "r.png"))
            if got is None:
                continue
            want = expected(img, lx, ly, w, h)
            check(got.shape == want.shape and np.array_equal(got, want),
                  f"{what}: level {i} region ({lx}, {ly}) {w}x{h} differs from the frames PIL decodes "
                  f"(max {np.abs(got.astype(int) - want).max() if got.shape == want.shape else 'shape'})")
    names = {"LABEL": "label", "OVERVIEW": "macro", "THUMBNAIL": "thumbnail"}
    check(sorted(info["associated"]) == sorted(names[f] for f in assoc), f"{what}: associated {info['associated']}")
    for flavor, img in assoc.items():
        out = os.path.join(tmp, flavor + ".png")
        if run(["associated", path, names[flavor], "--out", out]).returncode == 0:
            got = np.asarray(Image.open(out).convert("RGB"))
            check(np.array_equal(got, img), f"{what}: associated {flavor} differs from PIL's decode")
    return info


def test_tiled_full(tmp, rng):
    folder = os.path.join(tmp, "full")
    tif = os.path.join(tmp, "full.tif")
    gen_dicom.write_series(folder, keep_tiff=tif)
    info = compare_slide(folder, folder, tmp, "TILED_FULL folder", rng)
    if info:
        check(info["mpp_x"] == 0.25 and info["mpp_y"] == 0.25, f"mpp {info['mpp_x']} {info['mpp_y']}")
        check(info["objective_power"] == 40, f"objective power {info['objective_power']}")
        props = info["properties"]
        want = {"openslide.vendor": "dicom", "dicom.Modality": "SM", "dicom.ImageType[2]": "VOLUME",
                "dicom.DimensionOrganizationType": "TILED_FULL", "dicom.BarcodeValue": "BARCODE-42",
                "openslide.barcode": "BARCODE-42",
                "dicom.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing[1]": "0.00025",
                "dicom.OpticalPathSequence[0].ObjectiveLensPower": "40.0",
                "openslide.icc-size": str(len(gen_dicom.icc_profile()))}
        for k, v in want.items():
            check(props.get(k) == v, f"property {k}: {props.get(k)!r}, expected {v!r}")
        check(not any("PerFrameFunctionalGroupsSequence" in k or "PixelData" in k for k in props),
              "properties past the per-frame groups or of the pixel data")
        # One instance file opens the whole series (the rest found in its folder).
        one = compare_slide(os.path.join(folder, "level1.dcm"), folder, tmp, "one instance file", rng, regions=2)
        check(one is not None and one["levels"] == info["levels"], "an instance file gives other levels")
        # The vips TIFF the tiles came from gives the same regions.
        for lvl in range(len(info["levels"])):
            a = ours(folder, 37, 51, lvl, 400, 333, os.path.join(tmp, "a.png"))
            b = ours(tif, 37, 51, lvl, 400, 333, os.path.join(tmp, "b.png"))
            check(a is not None and b is not None and np.array_equal(a, b), f"level {lvl}: DICOM and its TIFF differ")


def test_variants(tmp, rng):
    cases = [("sparse", dict(sparse=True, drop_tile=True)), ("concatenation", dict(concatenate=3)),
             ("sparse concatenation", dict(sparse=True, concatenate=2)),
             ("jpeg2000", dict(codec="jpeg2000", width=300, height=260)),
             ("native", dict(codec="native", width=300, height=200, tile=64)),
             ("jpeg2000 frames kept in memory", dict(codec="jpeg2000", width=48, height=32, tile=16)),
             ("single file", dict(single_file=True, width=400, height=300))]
    for what, kw in cases:
        folder = os.path.join(tmp, what.replace(" ", "_"))
        gen_dicom.write_series(folder, **kw)
        path = os.path.join(folder, "level0.dcm") if "single" in what else folder
        info = compare_slide(path, folder, tmp, what, rng, regions=4)
        if what == "sparse" and info:
            # tile (1, 1) of level 0 was left out: white there
            got = ours(folder, 128, 128, 0, 128, 128, os.path.join(tmp, "m.png"))
            check(got is not None and (got == 255).all(), "sparse: the missing tile is not white")


def hostile_cases(tmp):
    """(name, path) of broken slides, each made from a fresh good one."""
    base = os.path.join(tmp, "base")
    gen_dicom.write_series(base, width=400, height=300)
    cases = []

    def variant(name, edit, file="level0.dcm", keep_others=True):
        folder = os.path.join(tmp, "bad_" + name)
        shutil.copytree(base, folder)
        path = os.path.join(folder, file)
        edit(path, folder)
        cases.append((name, path))

    def dataset_edit(fn):
        def edit(path, folder):
            ds = pydicom.dcmread(path)
            fn(ds)
            ds.save_as(path)
        return edit

    def truncate(path, folder):
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) * 2 // 3)

    def not_wsi(path, folder):
        ds = pydicom.dcmread(path)
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
        ds.save_as(path)

    def second_series(path, folder):
        for n in os.listdir(folder):
            if n != "level0.dcm":
                os.remove(os.path.join(folder, n))
        gen_dicom.write_series(os.path.join(folder, "x"), width=200, height=200, single_file=True)
        os.rename(os.path.join(folder, "x", "level0.dcm"), os.path.join(folder, "other.dcm"))
        os.rmdir(os.path.join(folder, "x"))

    def frame_size(ds):
        ds.Columns = ds.Rows = 96  # frames stay 128 x 128 JPEGs
        ds.TotalPixelMatrixColumns = 96 * 4
        ds.TotalPixelMatrixRows = 96 * 3

    variant("not_wsi", not_wsi)
    variant("missing_frame", dataset_edit(lambda ds: setattr(ds, "NumberOfFrames", int(ds.NumberOfFrames) + 1)))
    variant("truncated", truncate)
    variant("absurd_size", dataset_edit(lambda ds: setattr(ds, "TotalPixelMatrixColumns", 1 << 31)))
    variant("absurd_frames", dataset_edit(lambda ds: setattr(ds, "NumberOfFrames", 1 << 40)))
    variant("no_frame_size", dataset_edit(lambda ds: delattr(ds, "Rows")))
    variant("missing_part", dataset_edit(lambda ds: [setattr(ds, "ConcatenationUID", "1.2.3"),
                                                     setattr(ds, "InConcatenationNumber", 1),
                                                     setattr(ds, "InConcatenationTotalNumber", 2)]))
    variant("two_series", second_series)
    variant("frame_size", dataset_edit(frame_size))
    variant("twelve_bit", dataset_edit(lambda ds: setattr(ds, "BitsStored", 12)))
    return cases


def raw(args):
    return subprocess.run([DEEPSLIDE] + args, capture_output=True, text=True)


def test_hostile(tmp):
    for name, path in hostile_cases(tmp):
        target = os.path.dirname(path) if name == "two_series" else path
        p = raw(["info", target])
        if p.returncode == 0:  # some damage shows only when pixels are read
            p = raw(["read-region", target, "--x", "0", "--y", "0", "--level", "0", "--width", "400", "--height",
                     "300", "--out", os.path.join(tmp, "x.png")])
        line = error_line(p)
        check(p.returncode == 2, f"{name}: exit {p.returncode}, expected 2: {p.stderr[-300:]}")
        check(line.startswith("deepslide: error: ") and (path in line or os.path.dirname(path) in line)
              and len(p.stderr.strip().splitlines()) == 1, f"{name}: error does not name the file in one line: {line}")
        print(f"{name}: {line}")


def main():
    rng = random.Random(22)
    tmp = tempdir("ds_dicom_")
    test_tiled_full(tmp, rng)
    test_variants(tmp, rng)
    test_hostile(tmp)
    if failures:
        print("\n".join(failures[:40]))
        print(f"FAILED: {len(failures)} checks")
        sys.exit(1)
    print("dicom: all checks passed")


if __name__ == "__main__":
    main()
