// DICOM WSI series writer (dicom_writer.h). The attributes are those of the VL Whole Slide
// Microscopy Image IOD (PS3.3 A.32.8) that a reader needs and the IOD requires: patient, study,
// series and frame-of-reference UIDs, the Whole Slide Microscopy Image module (ImageType, total
// pixel matrix, imaged volume, orientation, DimensionOrganizationType TILED_FULL), the Shared
// Functional Groups' Pixel Measures (PixelSpacing in mm) where the slide has an mpp, the Optical
// Path module (illumination codes, the ICC profile where the slide has one, objective power),
// and the pixel data as one baseline JPEG fragment per frame after an empty offset table.
#include "slide/synth/dicom_writer.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/format.h"
#include "slide/reader/dicom_instance.h"

namespace ds {

namespace {

constexpr int kMaxJpegSide = 65500;

struct SeriesUids {
  std::string study, series, frame_of_reference;
};

std::string new_uid(const char* root) {
  char buf[100];
  return dcmGenerateUniqueIdentifier(buf, root);
}

void put(DcmItem& item, const DcmTagKey& key, const std::string& value) {
  if (item.putAndInsertString(key, value.c_str()).bad())
    throw InternalError("DCMTK refused a value for " + DcmTag(key).toString());
}

// A Decimal String: at most 16 characters, as many digits as fit.
std::string ds_value(double v) {
  for (int digits = 15; digits > 6; --digits) {
    std::string s = format_number(("%." + std::to_string(digits) + "g").c_str(), v);
    if (s.size() <= 16) return s;
  }
  return format_number("%.6g", v);
}

void put_code(DcmItem& parent, const DcmTagKey& seq, const char* value, const char* scheme, const char* meaning) {
  DcmItem* code = nullptr;
  parent.findOrCreateSequenceItem(seq, code, 0);
  put(*code, DCM_CodeValue, value);
  put(*code, DCM_CodingSchemeDesignator, scheme);
  put(*code, DCM_CodeMeaning, meaning);
}

// Patient, study, series, equipment and the Whole Slide Microscopy Series / Image modules.
void put_identity(DcmDataset& ds, const SeriesUids& u, const std::string& flavor, int number) {
  const bool original = flavor == "VOLUME" && number == 1;
  put(ds, DCM_ImageType,
      std::string(original ? "ORIGINAL" : "DERIVED") + "\\PRIMARY\\" + flavor + "\\" +
          (original ? "NONE" : "RESAMPLED"));
  put(ds, DCM_SOPClassUID, UID_VLWholeSlideMicroscopyImageStorage);
  put(ds, DCM_SOPInstanceUID, new_uid(SITE_INSTANCE_UID_ROOT));
  put(ds, DCM_StudyInstanceUID, u.study);
  put(ds, DCM_SeriesInstanceUID, u.series);
  put(ds, DCM_FrameOfReferenceUID, u.frame_of_reference);
  put(ds, DCM_Modality, "SM");
  for (const DcmTagKey& k : {DCM_PatientName, DCM_PatientID, DCM_PatientBirthDate, DCM_PatientSex, DCM_StudyDate,
                             DCM_StudyTime, DCM_ReferringPhysicianName, DCM_StudyID, DCM_AccessionNumber})
    put(ds, k, "");
  put(ds, DCM_SeriesNumber, "1");
  put(ds, DCM_InstanceNumber, std::to_string(number));
  put(ds, DCM_Manufacturer, "deepslide.cpp");
  put(ds, DCM_ManufacturerModelName, "deepslide convert");
  put(ds, DCM_DeviceSerialNumber, "0");
  put(ds, DCM_SoftwareVersions, DEEPSLIDE_VERSION);
  put(ds, DCM_ContentDate, "");
  put(ds, DCM_ContentTime, "");
  put(ds, DCM_AcquisitionDateTime, "");
  put(ds, DCM_PositionReferenceIndicator, "SLIDE_CORNER");
  put(ds, DCM_VolumetricProperties, "VOLUME");
  put(ds, DCM_BurnedInAnnotation, flavor == "LABEL" ? "YES" : "NO");
  put(ds, DCM_SpecimenLabelInImage, flavor == "LABEL" || flavor == "OVERVIEW" ? "YES" : "NO");
  put(ds, DCM_FocusMethod, "AUTO");
  put(ds, DCM_ExtendedDepthOfField, "NO");
  put(ds, DCM_ImageOrientationSlide, "0\\-1\\0\\-1\\0\\0");
  put(ds, DCM_ContainerIdentifier, "");
  ds.insertEmptyElement(DCM_IssuerOfTheContainerIdentifierSequence);
  ds.insertEmptyElement(DCM_SpecimenDescriptionSequence);
}

void put_geometry(DcmDataset& ds, const Slide& slide, int64_t w, int64_t h, int tw, int th, double downsample) {
  put(ds, DCM_TotalPixelMatrixColumns, std::to_string(w));
  put(ds, DCM_TotalPixelMatrixRows, std::to_string(h));
  put(ds, DCM_TotalPixelMatrixFocalPlanes, "1");
  put(ds, DCM_Columns, std::to_string(tw));
  put(ds, DCM_Rows, std::to_string(th));
  put(ds, DCM_DimensionOrganizationType, "TILED_FULL");
  put(ds, DCM_NumberOfOpticalPaths, "1");
  DcmItem* origin = nullptr;
  ds.findOrCreateSequenceItem(DCM_TotalPixelMatrixOriginSequence, origin, 0);
  put(*origin, DCM_XOffsetInSlideCoordinateSystem, "0");
  put(*origin, DCM_YOffsetInSlideCoordinateSystem, "0");
  DcmItem* shared = nullptr;
  ds.findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0);
  if (downsample > 0 && slide.mpp_x() && slide.mpp_y()) {  // associated images (0): no pixel spacing
    const double row_mm = *slide.mpp_y() * downsample / 1000.0, col_mm = *slide.mpp_x() * downsample / 1000.0;
    DcmItem* pm = nullptr;
    shared->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, pm, 0);
    put(*pm, DCM_PixelSpacing, ds_value(row_mm) + "\\" + ds_value(col_mm));
    put(*pm, DCM_SliceThickness, "0.001");
    put(ds, DCM_ImagedVolumeWidth, ds_value((double)w * col_mm));
    put(ds, DCM_ImagedVolumeHeight, ds_value((double)h * row_mm));
    put(ds, DCM_ImagedVolumeDepth, "0.001");
  }
  DcmItem* opid = nullptr;
  shared->findOrCreateSequenceItem(DCM_OpticalPathIdentificationSequence, opid, 0);
  put(*opid, DCM_OpticalPathIdentifier, "1");
  DcmItem* op = nullptr;
  ds.findOrCreateSequenceItem(DCM_OpticalPathSequence, op, 0);
  put(*op, DCM_OpticalPathIdentifier, "1");
  put_code(*op, DCM_IlluminationTypeCodeSequence, "111744", "DCM", "Brightfield illumination");
  put_code(*op, DCM_IlluminationColorCodeSequence, "414298005", "SCT", "Full Spectrum");
  if (slide.objective_power()) put(*op, DCM_ObjectiveLensPower, ds_value(*slide.objective_power()));
  const auto& icc = slide.icc_profile();
  if (!icc.empty()) op->putAndInsertUint8Array(DCM_ICCProfile, icc.data(), (unsigned long)icc.size());
}

void put_frames(DcmDataset& ds, const std::vector<std::vector<uint8_t>>& frames, int quality) {
  put(ds, DCM_SamplesPerPixel, "3");
  put(ds, DCM_PhotometricInterpretation, quality <= 90 ? "YBR_FULL_422" : "YBR_FULL");
  put(ds, DCM_PlanarConfiguration, "0");
  put(ds, DCM_BitsAllocated, "8");
  put(ds, DCM_BitsStored, "8");
  put(ds, DCM_HighBit, "7");
  put(ds, DCM_PixelRepresentation, "0");
  put(ds, DCM_NumberOfFrames, std::to_string(frames.size()));
  put(ds, DCM_LossyImageCompression, "01");
  put(ds, DCM_LossyImageCompressionMethod, "ISO_10918_1");
  auto* seq = new DcmPixelSequence(DcmTag(DCM_PixelData, EVR_OB));
  seq->insert(new DcmPixelItem(DcmTag(DCM_Item, EVR_OB)));  // empty basic offset table
  for (const auto& f : frames) {
    auto* item = new DcmPixelItem(DcmTag(DCM_Item, EVR_OB));
    item->putUint8Array(f.data(), (unsigned long)f.size());
    seq->insert(item);
  }
  auto* pix = new DcmPixelData(DCM_PixelData);
  pix->putOriginalRepresentation(EXS_JPEGProcess1, nullptr, seq);
  ds.insert(pix, OFTrue);
}

void save(DcmFileFormat& ff, const std::string& path) {
  AtomicFile out(path);
  OFCondition c = ff.saveFile(OFFilename(out.temp_path().c_str()), EXS_JPEGProcess1, EET_ExplicitLength);
  if (c.bad()) throw InputError(path, std::string("cannot write: ") + c.text());
  out.commit();
}

// Level `level` cut into tile x tile frames (edge frames padded white), each a baseline JPEG:
// the slide's own stored JPEG tile, copied, where its tiles are tile x tile YCbCr JPEGs
// (TileSource::raw_jpeg_tile), else the pixels encoded. `copied` counts the first kind.
std::vector<std::vector<uint8_t>> level_frames(const Slide& slide, int level, const DicomWriteOptions& opt,
                                               size_t* copied) {
  const SlideLevel& L = slide.level(level);
  const bool same_grid = opt.copy_jpeg && L.tile_width == opt.tile && L.tile_height == opt.tile;
  std::vector<std::vector<uint8_t>> frames;
  for (int64_t ty = 0; ty < L.height; ty += opt.tile)
    for (int64_t tx = 0; tx < L.width; tx += opt.tile) {
      std::vector<uint8_t> raw;
      if (same_grid && slide.raw_jpeg_tile(level, tx / opt.tile, ty / opt.tile, raw)) {
        frames.push_back(std::move(raw));
        ++*copied;
        continue;
      }
      // The level-0 point whose level pixel (floor of x / downsample) is exactly (tx, ty).
      const int64_t x = (int64_t)std::ceil((double)tx * L.downsample),
                    y = (int64_t)std::ceil((double)ty * L.downsample);
      frames.push_back(encode_jpeg(slide.read_region(x, y, level, opt.tile, opt.tile), opt.quality));
    }
  return frames;
}

const char* flavor_of(const std::string& associated) {
  return associated == "label"       ? "LABEL"
         : associated == "macro"     ? "OVERVIEW"
         : associated == "thumbnail" ? "THUMBNAIL"
                                     : nullptr;
}

}  // namespace

DicomWriteResult write_dicom_series(const Slide& slide, const std::string& out_dir, const DicomWriteOptions& opt) {
  if (opt.tile < 16 || opt.tile > 4096 || opt.tile % 16)
    throw InputError("--tile must be a multiple of 16 in [16, 4096]");
  if (opt.quality < 1 || opt.quality > 100) throw InputError("--quality must be in [1, 100]");
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) throw InputError(out_dir, "cannot create the output folder: " + ec.message());
  // The folder becomes this series: the files of an earlier conversion (level<i>.dcm, label.dcm,
  // ...) that this one does not write again are removed at the end; other DICOM files would make
  // the folder hold two series, so the conversion is refused.
  const auto ours = [](const std::string& name) {
    if (name == "label.dcm" || name == "macro.dcm" || name == "thumbnail.dcm") return true;
    if (name.size() < 10 || name.compare(0, 5, "level") != 0 || name.compare(name.size() - 4, 4, ".dcm") != 0)
      return false;
    return std::all_of(name.begin() + 5, name.end() - 4, [](char c) { return c >= '0' && c <= '9'; });
  };
  std::vector<std::filesystem::path> earlier;
  for (auto e = std::filesystem::directory_iterator(out_dir, ec); !ec && e != std::filesystem::directory_iterator();
       e.increment(ec)) {
    std::error_code ec2;
    if (!e->is_regular_file(ec2) || !has_dicom_magic(e->path().string())) continue;
    if (!ours(e->path().filename().string()))
      throw InputError(out_dir, "holds DICOM files of another series (" + e->path().filename().string() +
                                    "): the folder would hold two; use an empty folder");
    earlier.push_back(e->path());
  }
  const SeriesUids u{new_uid(SITE_STUDY_UID_ROOT), new_uid(SITE_SERIES_UID_ROOT), new_uid(SITE_INSTANCE_UID_ROOT)};
  std::vector<std::string> written;
  size_t copied = 0;
  const int levels = opt.max_levels > 0 ? std::min(opt.max_levels, slide.level_count()) : slide.level_count();
  for (int i = 0; i < levels; ++i) {
    const SlideLevel& L = slide.level(i);
    DcmFileFormat ff;
    DcmDataset& ds = *ff.getDataset();
    put_identity(ds, u, "VOLUME", i + 1);
    put_geometry(ds, slide, L.width, L.height, opt.tile, opt.tile, L.downsample);
    put_frames(ds, level_frames(slide, i, opt, &copied), opt.quality);
    written.push_back((std::filesystem::path(out_dir) / ("level" + std::to_string(i) + ".dcm")).string());
    save(ff, written.back());
  }
  int number = 100;
  for (const std::string& name : slide.associated_names()) {
    const char* flavor = flavor_of(name);
    if (!flavor) continue;
    RgbImage img = slide.read_associated(name);
    if (img.width > kMaxJpegSide || img.height > kMaxJpegSide) continue;
    DcmFileFormat ff;
    DcmDataset& ds = *ff.getDataset();
    put_identity(ds, u, flavor, number++);
    put_geometry(ds, slide, img.width, img.height, img.width, img.height, 0);
    put_frames(ds, {encode_jpeg(img, opt.quality)}, opt.quality);
    written.push_back((std::filesystem::path(out_dir) / (name + ".dcm")).string());
    save(ff, written.back());
  }
  for (const std::filesystem::path& f : earlier)
    if (std::find(written.begin(), written.end(), f.string()) == written.end()) std::filesystem::remove(f, ec);
  return DicomWriteResult{written, copied};
}

}  // namespace ds
