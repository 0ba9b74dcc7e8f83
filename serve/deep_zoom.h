// Deep Zoom (the DZI format OpenSeadragon reads) over a slide: the pyramid of levels, halving
// from the slide's level-0 size down to 1 x 1, cut into square tiles with an overlap, and the
// pixels of one tile drawn from the slide's pyramid.
//
// Level L of N (N - 1 = ceil(log2(max(width, height)))) is the slide scaled by 1 / 2^(N-1-L),
// its size ceil(width / 2^(N-1-L)) x ceil(height / 2^(N-1-L)). Tile (col, row) covers
// [col * T - o, (col + 1) * T + o) of it (T the tile size, o the overlap, no overlap on the
// level's outer edges), clipped to the level. Those are the rules of Microsoft's DZI schema and
// OpenSlide's DeepZoomGenerator, which the tests compare against.
#pragma once
#include <cstdint>
#include <string>

#include "slide/reader/slide.h"

namespace ds {

struct DeepZoom {
  int64_t width = 0, height = 0;  // level 0 of the slide
  int tile_size = 254;            // OpenSeadragon's and OpenSlide's default: 256 with the overlap
  int overlap = 1;

  int level_count() const;
  int shift(int level) const { return level_count() - 1 - level; }  // log2 of the downsample
  int64_t level_width(int level) const;
  int64_t level_height(int level) const;
  int64_t cols(int level) const;
  int64_t rows(int level) const;
  bool has_tile(int level, int64_t col, int64_t row) const;
  struct Rect {
    int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // level pixels, [x0, x1) x [y0, y1)
  };
  Rect tile_rect(int level, int64_t col, int64_t row) const;  // has_tile must hold
  std::string dzi_xml(const std::string& format) const;       // the .dzi descriptor
};

// Source pixels a tile may read before it is refused (a slide without a coarse enough level,
// e.g. a single-level image, would otherwise read its whole level 0 for the lowest levels).
constexpr int64_t kMaxTileSourcePixels = int64_t{4096} * 4096;

// The tile's pixels. The slide level read is the one OpenSlide picks for the Deep Zoom level's
// downsample s = 2^shift. When that level is the slide scaled by s / q for an integer q (its size
// within a pixel of level 0's times q / s: the usual power-of-two pyramid, whether its levels
// were rounded up or down), each Deep Zoom pixel i is the rounded mean of level pixels
// [i q, (i + 1) q) in each direction, clipped to the level (a block that would start past the
// level's edge takes its last column or row): exact, so tests reproduce it from read-region.
// Otherwise the region is area-resampled (slide/reader/resize.h). InputError when the tile would
// read more than kMaxTileSourcePixels; the reader's errors propagate.
RgbImage render_deep_zoom_tile(const Slide& slide, const DeepZoom& dz, int level, int64_t col, int64_t row);

}  // namespace ds
