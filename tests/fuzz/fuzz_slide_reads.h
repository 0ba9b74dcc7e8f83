// What the slide harnesses (fuzz_slide.cpp, fuzz_mirax.cpp) do with a slide: every level read at
// a few places (whole and partial tile decodes) and every associated image decoded.
#pragma once
#include <cstdint>
#include <string>

#include "slide/reader/slide.h"

namespace ds::fuzz {

inline void exercise_slide(const std::string& path) {
  auto slide = ds::Slide::open(path, 8u << 20);
  for (int L = 0; L < slide->level_count(); ++L) {
    const ds::SlideLevel& lv = slide->level(L);
    int64_t x_end = (int64_t)((double)(lv.width - 1) * lv.downsample);
    int64_t y_end = (int64_t)((double)(lv.height - 1) * lv.downsample);
    slide->read_region(0, 0, L, 64, 64, 1);
    slide->read_region(x_end - 100, y_end - 100, L, 130, 130, 1);
    slide->read_region(x_end / 2, y_end / 2, L, 300, 20, 1);
  }
  // Partial tile decodes (JPEG tiles cut to the region's MCUs, jpeg_crop) on a cacheless reader.
  auto part = ds::Slide::open(path, 0);
  part->set_partial_decode(ds::Slide::PartialDecode::kAlways);
  for (int L = 0; L < part->level_count(); ++L) {
    const ds::SlideLevel& lv = part->level(L);
    int64_t x_mid = (int64_t)((double)lv.width * 0.4 * lv.downsample);
    int64_t y_mid = (int64_t)((double)lv.height * 0.6 * lv.downsample);
    part->read_region(x_mid, y_mid, L, 37, 29, 1);
  }
  for (const auto& name : slide->associated_names()) slide->read_associated(name);
  slide->best_level_for_downsample(3.0);
}

}  // namespace ds::fuzz
