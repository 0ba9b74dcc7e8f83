// Thumbnail reading (see thumbnail.h). Refuses to read a level larger than kMaxReadPixels so a
// pyramid without small levels gives a clear error instead of exhausting memory.
#include "slide/reader/thumbnail.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "slide/reader/resize.h"

namespace ds {

static constexpr int64_t kMaxReadPixels = 16384LL * 16384LL;

Thumbnail read_thumbnail(const Slide& slide, int max_side) {
  DS_CHECK_INPUT(max_side > 0, "thumbnail size must be positive");
  const SlideLevel& l0 = slide.level(0);
  const double want = std::max(1.0, (double)std::max(l0.width, l0.height) / max_side);
  const int level = slide.best_level_for_downsample(want);
  const SlideLevel& L = slide.level(level);
  if (L.width * L.height > kMaxReadPixels)
    throw InputError(slide.path(),
                     "no pyramid level small enough for a thumbnail (smallest usable level is " +
                         std::to_string(L.width) + "x" + std::to_string(L.height) +
                         "); rebuild the pyramid: vips tiffsave in out.tif --tile --pyramid --compression jpeg");
  RgbImage full = slide.read_region(0, 0, level, (int)L.width, (int)L.height);
  const double scale = std::min(1.0, (double)max_side / std::max(L.width, L.height));
  const int tw = std::max(1, (int)std::lround(L.width * scale)), th = std::max(1, (int)std::lround(L.height * scale));
  Thumbnail t;
  t.image = resize_area(full, tw, th);
  t.downsample = 0.5 * ((double)l0.width / tw + (double)l0.height / th);
  return t;
}

}  // namespace ds
