// The one image type every layer above the base shares: 8-bit RGB, row-major. Slides yield it,
// networks are fed from it, visualizations are drawn into it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ds {

struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // [height][width][3], row-major
  RgbImage() = default;
  RgbImage(int w, int h, uint8_t fill = 255) : width(w), height(h), pixels((size_t)w * h * 3, fill) {}
  uint8_t* row(int y) { return pixels.data() + (size_t)y * width * 3; }
  const uint8_t* row(int y) const { return pixels.data() + (size_t)y * width * 3; }
};

}  // namespace ds
