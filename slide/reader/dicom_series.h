// From DICOM instances to a slide's layout: which files make up the slide (one instance file and
// the instances of its series in the same folder, or a folder holding one series), which VOLUME
// instances are which level (concatenation parts joined), which frame is which tile, and which
// instances are the associated images. Read with dicom_instance.h; decoded by dicom_slide.cpp.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "slide/reader/dicom_instance.h"

namespace ds {

// One tile of a level and the instance (part) and frame that hold it.
struct DicomTileRef {
  uint64_t tile;  // row * cols + col
  uint32_t part, frame;
};

struct DicomLevel {
  int64_t width = 0, height = 0, cols = 0, rows = 0;
  int tile_w = 0, tile_h = 0;
  std::vector<DicomTileRef> tiles;  // sorted by tile, at most one each; absent tiles are white
};

struct DicomSeries {
  std::vector<DicomInstance> parts;              // every instance a level or associated image uses
  std::vector<DicomLevel> levels;                // widest first
  std::map<std::string, DicomLevel> associated;  // "label", "macro", "thumbnail"
  size_t level0_part = 0;                        // the instance level 0's properties come from
};

// `path` is a DICOM file or a folder of them. InputError naming the file at fault when the
// series cannot be read as a slide: no VOLUME instance, two levels of one size outside one
// concatenation, a concatenation part missing, a TILED_FULL level with missing frames, a
// TILED_SPARSE frame off the tile grid, a folder holding several series.
DicomSeries read_dicom_series(const std::string& path);

// The slides a folder's DICOM files hold, as paths that open them: the folder itself when its
// whole-slide instances are of one series (or none reads: opening it then says why), else, per
// series, the file of its widest VOLUME instance (opening a file opens its series). Empty when
// the folder holds no DICOM file. InputError when it cannot be listed or holds too many.
std::vector<std::string> dicom_slides_in(const std::string& dir);

}  // namespace ds
