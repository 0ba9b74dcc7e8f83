// Writes an in-memory RGB image as a tiled pyramidal TIFF: JPEG / LZW / Deflate / no
// compression, levels shrinking by 2x or 4x (box filter), reduced levels in the main IFD chain
// or as SubIFDs, optionally BigTIFF, optionally Aperio-style (SVS description with MPP/AppMag,
// stripped thumbnail as IFD 1, label and macro at the end). Used by tests and synthetic slides.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "slide/reader/image_io.h"

namespace ds {

struct PyramidWriteOptions {
  std::string compression = "jpeg";  // jpeg | lzw | deflate | none
  int quality = 80;                  // JPEG quality
  int tile_size = 256;               // multiple of 16
  int level_factor = 2;              // 2 or 4
  bool subifds = false;              // reduced levels as SubIFDs of IFD 0 (OME-TIFF style)
  bool bigtiff = false;
  bool jpeg_rgb = false;                                     // JPEG tiles in RGB instead of YCbCr 4:2:0
  bool aperio = false;                                       // Aperio SVS layout and ImageDescription
  double mpp = 0;                                            // > 0: resolution tags (and Aperio MPP)
  double app_mag = 0;                                        // > 0: Aperio AppMag
  std::vector<std::pair<std::string, RgbImage>> associated;  // aperio only: thumbnail, label, macro
};

// Writes atomically (temporary file, then rename). InputError on bad options or write failure.
void write_pyramid(const std::string& path, const RgbImage& level0, const PyramidWriteOptions& opt);

// Box-filter shrink by an integer factor; output is floor(w / f) x floor(h / f), at least 1x1.
RgbImage shrink_box(const RgbImage& src, int factor);

}  // namespace ds
