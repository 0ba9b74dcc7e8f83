#!/usr/bin/python3
# Writes a DICOM whole-slide image series (Supplement 145, VL Whole Slide Microscopy Image
# Storage) with pydicom, from the tiles of a pyramid libvips wrote: `vips tiffsave --pyramid
# --tile` makes a JPEG-tiled pyramidal TIFF, each tile's JPEG (the TIFF's JPEGTables spliced in,
# so the bytes decode alone) becomes one frame of its level's instance, unchanged. So the DICOM
# series and the TIFF hold the same compressed tiles. One instance per level (ImageType
# .../VOLUME/...), plus LABEL, OVERVIEW and THUMBNAIL instances of one frame each. Variants:
#   --sparse        TILED_SPARSE levels with a Per-Frame Functional Groups plane position per
#                   frame, frames in reverse order, and (with --drop-tile) one tile left out
#   --concatenate N level 0 split into N instances of one concatenation
#   --codec jpeg2000|native   frames re-coded from the tiles' pixels as JPEG 2000 (PIL/OpenJPEG,
#                   YBR_ICT) or stored uncompressed (RGB, Explicit VR Little Endian)
#   --single-file   level 0 only, in OUT_DIR/level0.dcm
# The attributes follow PS3.3 A.32.8 (VL Whole Slide Microscopy Image IOD) and C.8.12.4 (Whole
# Slide Microscopy Image module): total pixel matrix, DimensionOrganizationType, Shared Functional
# Groups' Pixel Measures (PixelSpacing in mm, row then column), Optical Path with ICC profile and
# objective lens power, Plane Position (Slide) per frame.
#
#   /usr/bin/python3 scripts/gen_dicom.py OUT_DIR [--width W --height H --tile T --sparse ...]
#   The TIFF it cut the tiles from is left at OUT_DIR/../<name>.tif when --keep-tiff PATH is given.
import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pydicom
import tifffile
from PIL import Image, ImageCms
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (ExplicitVRLittleEndian, JPEG2000, JPEGBaseline8Bit, PYDICOM_IMPLEMENTATION_UID,
                         generate_uid)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synthetic_tissue import jpeg, tissue  # noqa: E402

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
MPP = 0.25  # level 0, micrometres per pixel
OBJECTIVE = 40


def vips_pyramid(img, tile, path):
    """A JPEG-tiled pyramidal TIFF of `img` written by libvips; its levels' JPEG tiles."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.png")
        Image.fromarray(img).save(src)
        subprocess.run(["vips", "tiffsave", src, path, "--tile", "--pyramid", "--compression", "jpeg", "--Q", "85",
                        "--tile-width", str(tile), "--tile-height", str(tile), "--depth", "onetile"], check=True)
    levels = []
    with tifffile.TiffFile(path) as t:
        for page in t.pages:
            tables = page.jpegtables  # SOI, DQT/DHT, EOI
            fh = t.filehandle
            frames = []
            for off, n in zip(page.dataoffsets, page.databytecounts):
                fh.seek(off)
                data = fh.read(n)
                # tables without their EOI, then the tile without its SOI: one complete JPEG
                frames.append(tables[:-2] + data[2:] if tables else data)
            th, tw = page.tilelength, page.tilewidth
            levels.append(dict(width=page.imagewidth, height=page.imagelength, tile=(tw, th), frames=frames,
                               cols=-(-page.imagewidth // tw), rows=-(-page.imagelength // th)))
    return levels


def icc_profile():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def base_dataset(study, series, frame_of_ref, flavor, level_index):
    ds = Dataset()
    ds.SOPClassUID = WSI_SOP_CLASS
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = frame_of_ref
    ds.Modality = "SM"
    ds.PatientName = "Test^Slide"
    ds.PatientID = "DS-0001"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyDate = ds.ContentDate = "20260101"
    ds.StudyTime = ds.ContentTime = "120000"
    ds.AcquisitionDateTime = "20260101120000"
    ds.AccessionNumber = "A1"
    ds.ReferringPhysicianName = ""
    ds.StudyID = "S1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = level_index + 1
    ds.Manufacturer = "deepslide.cpp test writer"
    ds.ManufacturerModelName = "gen_dicom.py"
    ds.DeviceSerialNumber = "0"
    ds.SoftwareVersions = "pydicom " + pydicom.__version__
    ds.BarcodeValue = "BARCODE-42"
    ds.ContainerIdentifier = "SLIDE-1"
    ds.IssuerOfTheContainerIdentifierSequence = Sequence([])
    ds.SpecimenDescriptionSequence = Sequence([])
    ds.PositionReferenceIndicator = "SLIDE_CORNER"
    ds.VolumetricProperties = "VOLUME"
    ds.BurnedInAnnotation = "YES" if flavor == "LABEL" else "NO"
    ds.SpecimenLabelInImage = "YES" if flavor in ("LABEL", "OVERVIEW") else "NO"
    ds.FocusMethod = "AUTO"
    ds.ExtendedDepthOfField = "NO"
    ds.ImageOrientationSlide = [0, -1, 0, -1, 0, 0]
    original = flavor == "VOLUME" and level_index == 0
    ds.ImageType = ["ORIGINAL" if original else "DERIVED", "PRIMARY", flavor, "NONE" if original else "RESAMPLED"]
    return ds


def pixel_module(ds, codec, tw, th, nframes):
    ds.SamplesPerPixel = 3
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.Rows, ds.Columns = th, tw
    ds.NumberOfFrames = nframes
    ds.PhotometricInterpretation = {"jpeg": "YBR_FULL_422", "jpeg2000": "YBR_ICT", "native": "RGB"}[codec]
    if codec == "native":
        ds.LossyImageCompression = "00"
    else:
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1" if codec == "jpeg" else "ISO_15444_1"


def optical_path(ds, icc):
    op = Dataset()
    op.OpticalPathIdentifier = "1"
    illum = Dataset()
    illum.CodeValue, illum.CodingSchemeDesignator, illum.CodeMeaning = "414298005", "SCT", "Full Spectrum"
    op.IlluminationColorCodeSequence = Sequence([illum])
    itype = Dataset()
    itype.CodeValue, itype.CodingSchemeDesignator, itype.CodeMeaning = "111744", "DCM", "Brightfield illumination"
    op.IlluminationTypeCodeSequence = Sequence([itype])
    op.ICCProfile = icc
    op.ObjectiveLensPower = OBJECTIVE
    ds.OpticalPathSequence = Sequence([op])
    ds.NumberOfOpticalPaths = 1


def geometry(ds, width, height, spacing_mm, sparse):
    ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = width, height
    ds.TotalPixelMatrixFocalPlanes = 1
    ds.ImagedVolumeWidth = width * spacing_mm
    ds.ImagedVolumeHeight = height * spacing_mm
    ds.ImagedVolumeDepth = 0.001
    origin = Dataset()
    origin.XOffsetInSlideCoordinateSystem = 20.0
    origin.YOffsetInSlideCoordinateSystem = 40.0
    ds.TotalPixelMatrixOriginSequence = Sequence([origin])
    ds.DimensionOrganizationType = "TILED_SPARSE" if sparse else "TILED_FULL"
    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing = [spacing_mm, spacing_mm]
    pm.SliceThickness = 0.001
    shared.PixelMeasuresSequence = Sequence([pm])
    opid = Dataset()
    opid.OpticalPathIdentifier = "1"
    shared.OpticalPathIdentificationSequence = Sequence([opid])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])


def plane_positions(ds, positions, spacing_mm):
    items = []
    for c, r in positions:
        pos = Dataset()
        pos.ColumnPositionInTotalImagePixelMatrix = c
        pos.RowPositionInTotalImagePixelMatrix = r
        pos.XOffsetInSlideCoordinateSystem = 20.0 + (r - 1) * spacing_mm
        pos.YOffsetInSlideCoordinateSystem = 40.0 + (c - 1) * spacing_mm
        pos.ZOffsetInSlideCoordinateSystem = 0.0
        item = Dataset()
        item.PlanePositionSlideSequence = Sequence([pos])
        items.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(items)


def recode(frame, codec, tw, th):
    """A JPEG tile's pixels as a frame of `codec`."""
    if codec == "jpeg":
        return frame
    rgb = np.asarray(Image.open(io.BytesIO(frame)).convert("RGB"))
    if codec == "native":
        return rgb.tobytes()
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG2000", no_jp2=True, irreversible=True, mct=1, quality_mode="rates",
                              quality_layers=[8])
    return buf.getvalue()


def save(ds, path, codec, frames):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = {"jpeg": JPEGBaseline8Bit, "jpeg2000": JPEG2000, "native": ExplicitVRLittleEndian}[codec]
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.is_little_endian, ds.is_implicit_VR = True, False
    if codec == "native":
        ds.PixelData = b"".join(frames)
    else:
        ds.PixelData = encapsulate(frames)
        ds["PixelData"].is_undefined_length = True
    ds.save_as(path, write_like_original=False)


def level_instances(L, level_index, args, uids, icc):
    """(dataset, frames) of each instance of one level."""
    tw, th = L["tile"]
    spacing = MPP / 1000.0 * (L["width0"] / L["width"])
    order = [(r, c) for r in range(L["rows"]) for c in range(L["cols"])]
    if args.sparse:
        order = order[::-1]
        if args.drop_tile and level_index == 0:
            order = [rc for rc in order if rc != (1, 1)]
    frames = [recode(L["frames"][r * L["cols"] + c], args.codec, tw, th) for r, c in order]
    parts = args.concatenate if level_index == 0 and args.concatenate > 1 else 1
    bounds = [len(frames) * i // parts for i in range(parts + 1)]
    concat_uid, source_uid = generate_uid(), generate_uid()
    out = []
    for p in range(parts):
        ds = base_dataset(*uids, "VOLUME", level_index)
        part_frames = frames[bounds[p]:bounds[p + 1]]
        pixel_module(ds, args.codec, tw, th, len(part_frames))
        optical_path(ds, icc)
        geometry(ds, L["width"], L["height"], spacing, args.sparse)
        if args.sparse:
            plane_positions(ds, [(c * tw + 1, r * th + 1) for r, c in order[bounds[p]:bounds[p + 1]]], spacing)
        if parts > 1:
            ds.ConcatenationUID = concat_uid
            ds.SOPInstanceUIDOfConcatenationSource = source_uid
            ds.InConcatenationNumber = p + 1
            ds.InConcatenationTotalNumber = parts
            ds.ConcatenationFrameOffsetNumber = bounds[p]
        out.append((ds, part_frames))
    return out


def associated_instance(flavor, img, uids, icc, index):
    ds = base_dataset(*uids, flavor, index)
    h, w = img.shape[:2]
    pixel_module(ds, "jpeg", w, h, 1)
    optical_path(ds, icc)
    geometry(ds, w, h, 0.02, False)
    return ds, [jpeg(img, 90)]


def write_series(out_dir, width=1000, height=700, tile=128, seed=22, sparse=False, drop_tile=False, concatenate=1,
                 codec="jpeg", single_file=False, keep_tiff=None):
    """Writes the series into out_dir (created); returns the paths written and the vips pyramid's levels."""
    args = argparse.Namespace(sparse=sparse, drop_tile=drop_tile, concatenate=concatenate, codec=codec)
    os.makedirs(out_dir, exist_ok=True)
    img = tissue(width, height, seed, cell=40, noise=8)
    with tempfile.TemporaryDirectory() as tmp:
        tif = keep_tiff or os.path.join(tmp, "pyramid.tif")
        levels = vips_pyramid(img, tile, tif)
    uids = (generate_uid(), generate_uid(), generate_uid())
    icc = icc_profile()
    paths = []
    for i, L in enumerate(levels[:1] if single_file else levels):
        L["width0"] = levels[0]["width"]
        for p, (ds, frames) in enumerate(level_instances(L, i, args, uids, icc)):
            name = "level0.dcm" if single_file else f"level{i}" + (f"_part{p + 1}" if p else "") + ".dcm"
            save(ds, os.path.join(out_dir, name), codec, frames)
            paths.append(os.path.join(out_dir, name))
    if not single_file:
        rng = np.random.default_rng(seed + 1)
        for k, (flavor, (w, h)) in enumerate((("LABEL", (120, 96)), ("OVERVIEW", (240, 90)),
                                              ("THUMBNAIL", (width // 8, height // 8)))):
            pix = tissue(w, h, int(rng.integers(1 << 30)), cell=16, noise=4)
            ds, frames = associated_instance(flavor, pix, uids, icc, 50 + k)
            path = os.path.join(out_dir, flavor.lower() + ".dcm")
            save(ds, path, "jpeg", frames)
            paths.append(path)
    return paths, levels


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out_dir")
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--height", type=int, default=700)
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--sparse", action="store_true")
    ap.add_argument("--drop-tile", action="store_true")
    ap.add_argument("--concatenate", type=int, default=1)
    ap.add_argument("--codec", choices=("jpeg", "jpeg2000", "native"), default="jpeg")
    ap.add_argument("--single-file", action="store_true")
    ap.add_argument("--keep-tiff", help="where to keep the vips pyramid the tiles came from")
    a = ap.parse_args()
    if os.path.isdir(a.out_dir):
        shutil.rmtree(a.out_dir)
    paths, _ = write_series(a.out_dir, a.width, a.height, a.tile, a.seed, a.sparse, a.drop_tile, a.concatenate,
                            a.codec, a.single_file, a.keep_tiff)
    for p in paths:
        print(p, os.path.getsize(p))


if __name__ == "__main__":
    main()
