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

SlideStain fit_thumbnail_stain(const RgbImage& thumbnail, const StainReference& ref) {
  SlideStain out;
  if (ref.fit != StainScope::slide || ref.method == StainMethod::none || thumbnail.width == 0 || thumbnail.height == 0)
    return out;
  const RgbImage tissue = masked_pixels(thumbnail, otsu_tissue_mask(thumbnail, 1.0));
  // Reinhard's statistics need tissue as much as the stain vectors do (a slide of glass has none).
  if (tissue.width < kMacenkoMinTissue) return out;
  SlideStain fitted;
  if (try_fit_stain(ref.method, tissue, fitted)) out = fitted;
  return out;
}

SlideStain fit_slide_stain(const Slide& slide, const StainReference& ref) {
  if (ref.fit != StainScope::slide || ref.method == StainMethod::none) return {};
  return fit_thumbnail_stain(read_thumbnail(slide, kStainThumbnail).image, ref);
}

}  // namespace ds
