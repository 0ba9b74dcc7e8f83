# `deepslide convert SLIDE --to dicom --out DIR` (issue 22) checked by outside readers: DCMTK's
# dcmdump parses every file it writes without a warning (dciodvfy is not packaged in Debian 12),
# pydicom reads each as a VL Whole Slide Microscopy Image with JPEG baseline frames, one per tile
# of its level (TILED_FULL), and the total pixel matrix, pixel spacing, objective power and ICC
# profile of the source; the series `deepslide` then reads equals the frames PIL decodes, exactly
# (test_dicom.py's oracle), and stays within JPEG's loss of the source slide, or equals it where
# the frames are the source's JPEG tiles copied (frame side = the source's tile side). Sources: a vips
# TIFF and a pydicom DICOM series (scripts/gen_dicom.py), so DICOM -> DICOM is covered too.
import json
import os
import subprocess
import sys

import numpy as np
import pydicom

SRC = os.environ.get("DS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(SRC, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_dicom  # noqa: E402
import test_dicom  # noqa: E402  (its oracle: frames by pydicom, decoded by PIL)
from cli_harness import DEEPSLIDE, check, error_line, failures, run, tempdir  # noqa: E402

tmp = tempdir("ds_dicom_convert_")
src_dicom, src_tiff = f"{tmp}/src", f"{tmp}/src.tif"
gen_dicom.write_series(src_dicom, width=900, height=650, tile=128, keep_tiff=src_tiff)
rng = __import__("random").Random(7)

# (what, source, frame side, frames copied): at the source's own tile size (128) the stored JPEG
# tiles are copied, unchanged, and the converted slide is the source pixel for pixel; at 256 (or
# with --reencode) every frame is encoded from the pixels.
cases = (("tiff", src_tiff, 256, False), ("dicom", src_dicom, 256, False), ("tiff copied", src_tiff, 128, True),
         ("dicom copied", src_dicom, 128, True), ("tiff --reencode", src_tiff, 128, False))
for what, source, tile, copied in cases:
    out = f"{tmp}/out_{what.replace(' ', '_')}"
    p = run(["convert", source, "--to", "dicom", "--out", out, "--tile", str(tile), "--quality", "92"]
            + (["--reencode"] if "reencode" in what else []))
    if p.returncode:
        continue
    n_copied = int(p.stdout.strip().splitlines()[-1].split()[0])
    src_info = json.loads(run(["info", source]).stdout)
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        d = subprocess.run(["dcmdump", "-q", path], capture_output=True, text=True)
        check(d.returncode == 0 and not d.stderr.strip(), f"{what}: dcmdump on {name}: {d.returncode} {d.stderr[-300:]}")
        ds = pydicom.dcmread(path)
        check(ds.SOPClassUID == gen_dicom.WSI_SOP_CLASS and ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50",
              f"{what}: {name} SOP class {ds.SOPClassUID}, transfer syntax {ds.file_meta.TransferSyntaxUID}")
        if ds.ImageType[2] == "VOLUME":
            i = int(name[len("level"):-len(".dcm")])
            L = src_info["levels"][i]
            check((ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows) == (L["width"], L["height"]),
                  f"{what}: {name} total pixel matrix")
            tiles = -(-L["width"] // tile) * -(-L["height"] // tile)
            check(int(ds.NumberOfFrames) == tiles and ds.DimensionOrganizationType == "TILED_FULL",
                  f"{what}: {name} has {ds.NumberOfFrames} frames for {tiles} tiles")
            spacing = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
            if src_info["mpp_x"]:
                check(abs(float(spacing[1]) * 1000 - src_info["mpp_x"] * L["downsample"]) < 1e-6,
                      f"{what}: {name} pixel spacing {spacing}")
    info = test_dicom.compare_slide(out, out, tmp, f"convert from {what}", rng, regions=4)
    if not info:
        continue
    # PixelSpacing is a Decimal String of at most 16 characters: the mpp keeps ~14 digits.
    check(abs(info["mpp_x"] / src_info["mpp_x"] - 1) < 1e-12 and info["objective_power"] == src_info["objective_power"],
          f"{what}: mpp / objective power {info['mpp_x']} {info['objective_power']} vs source {src_info['mpp_x']} "
          f"{src_info['objective_power']}")
    check(info["properties"].get("openslide.icc-size") == src_info["properties"].get("openslide.icc-size"),
          f"{what}: ICC profile size")
    check(sorted(info["associated"]) == sorted(src_info["associated"]), f"{what}: associated {info['associated']}")
    all_frames = sum(-(-L["width"] // tile) * -(-L["height"] // tile) for L in info["levels"])
    check(n_copied == (all_frames if copied else 0), f"{what}: {n_copied} of {all_frames} frames copied")
    for i, L in enumerate(info["levels"]):
        a = test_dicom.ours(out, 0, 0, i, L["width"], L["height"], f"{tmp}/a.png").astype(int)
        b = test_dicom.ours(source, 0, 0, i, L["width"], L["height"], f"{tmp}/b.png").astype(int)
        diff = np.abs(a - b).mean()
        if copied:
            check(diff == 0, f"{what}: level {i} differs from the source (copied frames must give its pixels)")
        else:
            check(diff < 3, f"{what}: level {i} differs from the source by {diff:.2f} on average (JPEG loss < 3)")
    print(f"convert from {what}: {len(os.listdir(out))} files, {n_copied} of {all_frames} frames copied")

p = subprocess.run([DEEPSLIDE, "convert", src_tiff, "--to", "dicom", "--out", f"{tmp}/bad", "--tile", "100"],
                   capture_output=True, text=True)
check(p.returncode == 2 and "multiple of 16" in error_line(p), f"--tile 100: {p.returncode} {p.stderr[-200:]}")

# Converting into a folder that holds an earlier conversion: the folder becomes the new series
# (the earlier levels it does not write again are removed; it held both series before); a folder
# holding another series' files is refused.
again = f"{tmp}/again"
run(["convert", src_tiff, "--out", again])
before = sorted(f for f in os.listdir(again) if f.startswith("level"))
run(["convert", src_tiff, "--out", again, "--levels", "1"])
after = sorted(f for f in os.listdir(again) if f.startswith("level"))
check(len(before) > 1 and after == ["level0.dcm"], f"reconverted with one level: {before} -> {after}")
os.rename(f"{again}/level0.dcm", f"{again}/scanner_0001.dcm")
p = run(["convert", src_tiff, "--out", again], expect=2)
check("another series" in error_line(p) and "scanner_0001.dcm" in error_line(p), f"foreign DICOM files: {p.stderr!r}")

if failures:
    print("\n".join(failures[:40]))
    sys.exit(1)
print("dicom convert: all checks passed")
