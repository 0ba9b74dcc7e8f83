// Deep Zoom geometry (levels, tiles, the .dzi descriptor) and drawing one tile from the slide.
// The tile is drawn from the one slide level OpenSlide's DeepZoomGenerator would read, so a tile
// costs one read_region of at most a few times its own area on a pyramid with power-of-two levels.
#include "serve/deep_zoom.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "slide/reader/resize.h"

namespace ds {

int DeepZoom::level_count() const {
  int n = 1;
  for (int64_t w = width, h = height; w > 1 || h > 1; ++n) {
    w = (w + 1) / 2;
    h = (h + 1) / 2;
  }
  return n;
}

int64_t DeepZoom::level_width(int level) const { return ((width - 1) >> shift(level)) + 1; }
int64_t DeepZoom::level_height(int level) const { return ((height - 1) >> shift(level)) + 1; }
int64_t DeepZoom::cols(int level) const { return (level_width(level) + tile_size - 1) / tile_size; }
int64_t DeepZoom::rows(int level) const { return (level_height(level) + tile_size - 1) / tile_size; }

bool DeepZoom::has_tile(int level, int64_t col, int64_t row) const {
  return level >= 0 && level < level_count() && col >= 0 && row >= 0 && col < cols(level) && row < rows(level);
}

DeepZoom::Rect DeepZoom::tile_rect(int level, int64_t col, int64_t row) const {
  Rect r;
  r.x0 = col * tile_size - (col > 0 ? overlap : 0);
  r.y0 = row * tile_size - (row > 0 ? overlap : 0);
  r.x1 = std::min(level_width(level), (col + 1) * tile_size + overlap);
  r.y1 = std::min(level_height(level), (row + 1) * tile_size + overlap);
  return r;
}

std::string DeepZoom::dzi_xml(const std::string& format) const {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<Image xmlns=\"http://schemas.microsoft.com/deepzoom/2008\" Format=\"" +
         format + "\" Overlap=\"" + std::to_string(overlap) + "\" TileSize=\"" + std::to_string(tile_size) +
         "\">\n  <Size Width=\"" + std::to_string(width) + "\" Height=\"" + std::to_string(height) + "\"/>\n</Image>\n";
}

namespace {

// A level-0 coordinate the reader maps back to level pixel `lx` (Slide::read_region floors x / d).
int64_t level0_coordinate(int64_t lx, double d) {
  if (d == 1.0) return lx;
  int64_t x = (int64_t)std::ceil((double)lx * d - 1e-7);
  while ((int64_t)std::floor((double)x / d) < lx) ++x;
  while (x > 0 && (int64_t)std::floor((double)(x - 1) / d) >= lx) --x;
  return x;
}

// Level pixels [a, b) under Deep Zoom pixel `i` at ratio q, clipped to a level of size n: a block
// past the edge takes the last pixel.
struct Span {
  int64_t a, b;
};
Span block(int64_t i, int64_t q, int64_t n) {
  int64_t a = std::min(i * q, n - 1);
  int64_t b = std::max(std::min((i + 1) * q, n), a + 1);
  return {a, b};
}

void check_source_size(int64_t w, int64_t h, int level, const Slide& slide) {
  if (w * h > kMaxTileSourcePixels)
    throw InputError(slide.path(), "a tile of this Deep Zoom level needs " + std::to_string(w) + " x " +
                                       std::to_string(h) + " pixels of slide level " + std::to_string(level) +
                                       ": the slide has no coarser level");
}

// The exact path: rounded means of q x q blocks of slide level `lv`.
RgbImage render_box(const Slide& slide, int lv, int64_t q, const DeepZoom::Rect& t) {
  const SlideLevel& L = slide.level(lv);
  const Span sx0 = block(t.x0, q, L.width), sx1 = block(t.x1 - 1, q, L.width);
  const Span sy0 = block(t.y0, q, L.height), sy1 = block(t.y1 - 1, q, L.height);
  const int64_t sw = sx1.b - sx0.a, sh = sy1.b - sy0.a;
  check_source_size(sw, sh, lv, slide);
  const RgbImage src = slide.read_region(level0_coordinate(sx0.a, L.downsample), level0_coordinate(sy0.a, L.downsample),
                                         lv, (int)sw, (int)sh, 1);
  RgbImage out((int)(t.x1 - t.x0), (int)(t.y1 - t.y0));
  std::vector<uint32_t> sums((size_t)out.width * 3);
  for (int j = 0; j < out.height; ++j) {
    const Span ry = block(t.y0 + j, q, L.height);
    std::fill(sums.begin(), sums.end(), 0u);
    for (int64_t y = ry.a; y < ry.b; ++y) {
      const uint8_t* s = src.row((int)(y - sy0.a));
      for (int i = 0; i < out.width; ++i) {
        const Span rx = block(t.x0 + i, q, L.width);
        uint32_t* acc = &sums[(size_t)i * 3];
        for (int64_t x = rx.a; x < rx.b; ++x) {
          const uint8_t* p = s + (x - sx0.a) * 3;
          acc[0] += p[0];
          acc[1] += p[1];
          acc[2] += p[2];
        }
      }
    }
    uint8_t* o = out.row(j);
    for (int i = 0; i < out.width; ++i) {
      const Span rx = block(t.x0 + i, q, L.width);
      const uint32_t n = (uint32_t)((rx.b - rx.a) * (ry.b - ry.a));
      for (int c = 0; c < 3; ++c) o[i * 3 + c] = (uint8_t)((sums[(size_t)i * 3 + c] + n / 2) / n);
    }
  }
  return out;
}

// Levels whose downsample does not divide the Deep Zoom one: area resampling of the region.
RgbImage render_resampled(const Slide& slide, int lv, double r, const DeepZoom::Rect& t) {
  const SlideLevel& L = slide.level(lv);
  const int64_t x0 = std::min((int64_t)std::floor(t.x0 * r), L.width - 1);
  const int64_t y0 = std::min((int64_t)std::floor(t.y0 * r), L.height - 1);
  const int64_t x1 = std::max(std::min((int64_t)std::ceil(t.x1 * r), L.width), x0 + 1);
  const int64_t y1 = std::max(std::min((int64_t)std::ceil(t.y1 * r), L.height), y0 + 1);
  check_source_size(x1 - x0, y1 - y0, lv, slide);
  const RgbImage src = slide.read_region(level0_coordinate(x0, L.downsample), level0_coordinate(y0, L.downsample), lv,
                                         (int)(x1 - x0), (int)(y1 - y0), 1);
  return resize_area(src, (int)(t.x1 - t.x0), (int)(t.y1 - t.y0));
}

}  // namespace

RgbImage render_deep_zoom_tile(const Slide& slide, const DeepZoom& dz, int level, int64_t col, int64_t row) {
  DS_CHECK(dz.has_tile(level, col, row), "Deep Zoom tile out of range");
  const double s = std::ldexp(1.0, dz.shift(level));
  const int lv = slide.best_level_for_downsample(s);
  const SlideLevel& L = slide.level(lv);
  const double r = s / L.downsample;
  const int64_t q = std::llround(r);
  const DeepZoom::Rect t = dz.tile_rect(level, col, row);
  // The level is the slide scaled by s / q, its size rounded either way (pyramids written with
  // floor(w / 2) levels report downsamples such as 8.04 for what is a halving three times over).
  const auto scaled = [&](int64_t n0) { return (double)n0 * (double)q / s; };
  if (q >= 1 && std::fabs((double)L.width - scaled(dz.width)) <= 1.0 &&
      std::fabs((double)L.height - scaled(dz.height)) <= 1.0)
    return render_box(slide, lv, q, t);
  return render_resampled(slide, lv, r, t);
}

}  // namespace ds
