// Writes any readable slide as a DICOM whole-slide image series (Supplement 145, VL Whole Slide
// Microscopy Image Storage) with DCMTK's dcmdata: `deepslide convert SLIDE --to dicom`. One
// instance per level (ImageType .../VOLUME/..., TILED_FULL, baseline JPEG frames), the label,
// macro and thumbnail as LABEL, OVERVIEW and THUMBNAIL instances, one series and study. The frames
// are the slide's pixels re-encoded (the reader yields pixels, not the stored tiles).
#pragma once
#include <string>
#include <vector>

#include "slide/reader/slide.h"

namespace ds {

struct DicomWriteOptions {
  int tile = 256;     // frame side, a multiple of 16
  int quality = 90;   // JPEG quality (4:2:0 up to 90, 4:4:4 above, as stb_image_write encodes)
  int max_levels = 0;  // > 0: only the first levels
};

// Writes level<i>.dcm (and label.dcm, macro.dcm, thumbnail.dcm where the slide has them) into
// `out_dir` (created), each atomically; returns their paths. InputError on bad options or a
// slide that cannot be read.
std::vector<std::string> write_dicom_series(const Slide& slide, const std::string& out_dir,
                                            const DicomWriteOptions& opt);

}  // namespace ds
