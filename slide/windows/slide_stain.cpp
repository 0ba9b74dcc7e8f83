// Fitting a slide's stain on its tissue thumbnail (see slide_stain.h).
#include "slide/windows/slide_stain.h"

#include <cstring>

#include "base/error.h"
#include "slide/reader/thumbnail.h"

namespace ds {

RgbImage masked_pixels(const RgbImage& img, const TissueMask& mask) {
  DS_CHECK(mask.width == img.width && mask.height == img.height, "mask and image sizes differ");
  size_t n = 0;
  for (uint8_t on : mask.on) n += on;
  RgbImage out((int)n, 1);
  uint8_t* dst = out.pixels.data();
  const size_t px = (size_t)img.width * img.height;
  for (size_t i = 0; i < px; ++i)
    if (mask.on[i]) std::memcpy(dst, img.pixels.data() + i * 3, 3), dst += 3;
  return out;
}

std::array<double, 3> background_colour(const RgbImage& img, const TissueMask& mask) {
  DS_CHECK(mask.width == img.width && mask.height == img.height, "mask and image sizes differ");
  const size_t px = (size_t)img.width * img.height;
  std::array<std::array<size_t, 256>, 3> hist{};
  size_t n = 0;
  for (size_t i = 0; i < px; ++i)
    if (!mask.on[i]) {
      for (int c = 0; c < 3; ++c) ++hist[(size_t)c][img.pixels[i * 3 + (size_t)c]];
      ++n;
    }
  std::array<double, 3> white{255.0, 255.0, 255.0};
  if (n < std::max<size_t>(kMinBackgroundPixels, px / 100)) return white;
  std::array<double, 3> median{};
  for (int c = 0; c < 3; ++c) {
    size_t seen = 0;
    int v = 0;
    while (v < 255 && (seen += hist[(size_t)c][(size_t)v]) * 2 < n) ++v;
    median[(size_t)c] = v;
  }
  for (double m : median)
    if (m < kMinBackgroundLevel) return white;  // dark "glass" is tissue or a scan fault: no cast to undo
  return median;
}

SlideStain fit_thumbnail_stain(const RgbImage& thumbnail, const StainReference& ref) {
  SlideStain out;
  if (ref.fit != StainScope::slide || ref.method == StainMethod::none || thumbnail.width == 0 || thumbnail.height == 0)
    return out;
  const TissueMask mask = otsu_tissue_mask(thumbnail, 1.0);
  const std::array<double, 3> white = background_colour(thumbnail, mask);
  out.white = white;
  RgbImage tissue = masked_pixels(thumbnail, mask);
  // Reinhard's statistics need tissue as much as the stain vectors do (a slide of glass has none).
  if (tissue.width < kMacenkoMinTissue) return out;
  white_balance(tissue, white);  // fitted as the windows will be seen: white-balanced
  SlideStain fitted;
  if (try_fit_stain(ref.method, tissue, fitted)) out = fitted, out.white = white;
  return out;
}

SlideStain fit_slide_stain(const Slide& slide, const StainReference& ref) {
  if (ref.fit != StainScope::slide || ref.method == StainMethod::none) return {};
  return fit_thumbnail_stain(read_thumbnail(slide, kStainThumbnail).image, ref);
}

}  // namespace ds
