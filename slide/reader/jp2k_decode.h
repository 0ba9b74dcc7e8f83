// JPEG 2000 tile decoding with OpenJPEG, for Aperio SVS tiles (TIFF compression 33003: YCbCr
// without MCT, chroma possibly subsampled; 33005: RGB through the codestream's MCT). Each tile
// is a raw J2K codestream. The pixels are OpenSlide's: OpenJPEG decodes the components and
// 33003's YCbCr becomes RGB with OpenSlide's fixed-point tables (openslide-decode-jp2k.c).
// The codestream's SIZ marker is checked against the directory's tile size before OpenJPEG
// allocates anything in proportion to it. Safe to call from many threads (a codec per call).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ds {

enum class J2kColor { kYCbCr, kRgb };

// Decodes pixels [x0, x1) x [y0, y1) of a tile_w x tile_h tile into `out` (row stride `stride`
// bytes, pointing at (x0, y0)). The whole tile is x0 = y0 = 0, x1 = tile_w, y1 = tile_h; a
// smaller rectangle decodes only the code-blocks it needs, with the same pixels. InputError(what,
// reason) on a codestream whose SIZ does not describe a tile_w x tile_h 3-component 8-bit image
// and on any OpenJPEG error (corrupt or truncated data).
void decode_j2k_rgb(const uint8_t* data, size_t len, J2kColor color, int tile_w, int tile_h, int x0, int y0, int x1,
                    int y1, uint8_t* out, size_t stride, const std::string& what);

}  // namespace ds
