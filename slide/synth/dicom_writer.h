// Writes any readable slide as a DICOM whole-slide image series (Supplement 145, VL Whole Slide
// Microscopy Image Storage) with DCMTK's dcmdata: `deepslide convert SLIDE --to dicom`. One
// instance per level (ImageType .../VOLUME/..., TILED_FULL, baseline JPEG frames), the label,
// macro and thumbnail as LABEL, OVERVIEW and THUMBNAIL instances, one series and study. Where a
// level's stored tiles are baseline YCbCr JPEGs of the frame size (TIFF JPEG tiles, DICOM JPEG
// frames) they are copied as they are; other frames are the slide's pixels encoded.
#pragma once
#include <string>
#include <vector>

#include "slide/reader/slide.h"

namespace ds {

struct DicomWriteOptions {
  int tile = 256;         // frame side, a multiple of 16
  int quality = 90;       // JPEG quality (4:2:0 up to 90, 4:4:4 above, as stb_image_write encodes)
  int max_levels = 0;     // > 0: only the first levels
  bool copy_jpeg = true;  // copy stored JPEG tiles of the frame size instead of re-encoding them
};

struct DicomWriteResult {
  std::vector<std::string> files;  // written, in order
  size_t frames_copied = 0;        // level frames copied from stored JPEG tiles, not re-encoded
};

// Writes level<i>.dcm (and label.dcm, macro.dcm, thumbnail.dcm where the slide has them) into
// `out_dir` (created), each atomically; returns their paths. InputError on bad options or a
// slide that cannot be read.
DicomWriteResult write_dicom_series(const Slide& slide, const std::string& out_dir, const DicomWriteOptions& opt);

}  // namespace ds
