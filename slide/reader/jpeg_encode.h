// JPEG encoding with libjpeg-turbo, into memory: what `deepslide serve` sends for Deep Zoom tiles
// (image_io's encode_jpeg goes through stb_image_write, several times slower per tile).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/rgb_image.h"

namespace ds {

// Baseline JPEG, 4:2:0 chroma subsampling (libjpeg's default for RGB input), quality 1..100.
// InternalError when libjpeg fails (it cannot on valid input; the message says why).
std::vector<uint8_t> encode_jpeg_turbo(const RgbImage& img, int quality = 85);

}  // namespace ds
