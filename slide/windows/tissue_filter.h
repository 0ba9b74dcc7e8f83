// Tissue detection for sliding windows. Two filters:
//  - DeepSlide's purple filter, with its exact semantics: the patch is average-pooled into
//    blocks of (h / scale) x (w / scale) pixels the way skimage.measure.block_reduce does it
//    (edge blocks padded with zeros that count in the average); a block is purple when
//    r > g - 10, b > g - 10 and (r + b) / 2 > g + 20; the patch is kept when more than
//    `threshold` blocks are purple. Defaults scale 15, threshold 100 (DeepSlide's).
//  - An Otsu threshold on HSV saturation of a low-resolution image (as CLAM does), giving a
//    tissue mask that windows are then tested against.
#pragma once
#include <cstdint>
#include <vector>

#include "slide/reader/image_io.h"

namespace ds {

struct PurpleParams {
  int scale = 15;       // the patch side is divided into about `scale` blocks
  int threshold = 100;  // keep the patch when purple blocks > threshold
};

// Number of purple blocks in an RGB patch (rows of `stride` bytes). Throws InputError when the
// patch is smaller than `scale` pixels on a side (skimage would fail on a zero block size).
int purple_block_count(const uint8_t* rgb, int width, int height, int64_t stride, int scale);
bool is_purple(const RgbImage& patch, const PurpleParams& params);

// Per-channel summed-area table of an RGB image: at(x, y, c) is the sum of channel c over
// [0, x) x [0, y). Block sums taken from it are the exact integers purple_block_count adds up
// pixel by pixel, so counts from either are equal. Up to 2^24 pixels (uint32 sums cannot overflow).
struct RgbIntegral {
  int width = 0, height = 0;
  std::vector<uint32_t> sums;  // [(height + 1)][(width + 1)][3]
  RgbIntegral() = default;
  explicit RgbIntegral(const RgbImage& img) { build(img); }
  void build(const RgbImage& img);  // the table of img, reusing this one's storage
  uint32_t at(int x, int y, int c) const { return sums[((size_t)y * (width + 1) + x) * 3 + c]; }
};
// purple_block_count of the window [x, x + side) x [y, y + side) of the image `t` was made from.
int purple_block_count(const RgbIntegral& t, int x, int y, int side, int scale);

// A binary mask over a low-resolution image; `downsample` maps mask pixels to level-0 pixels.
struct TissueMask {
  int width = 0, height = 0;
  double downsample = 1.0;
  std::vector<uint8_t> on;  // [height][width], 1 = tissue
  int threshold = 0;        // the Otsu threshold on saturation that made it
  // Fraction of mask pixels that are tissue inside the level-0 rectangle [x, x+w) x [y, y+h).
  double tissue_fraction(int64_t x, int64_t y, int64_t w, int64_t h) const;
};

// Otsu's threshold over a 256-bin histogram (the bin value t maximising between-class variance;
// pixels > t are foreground), as OpenCV's THRESH_OTSU.
int otsu_threshold(const std::vector<int64_t>& histogram);
// HSV saturation of each pixel, exactly as OpenCV's 8-bit RGB->HSV computes it.
std::vector<uint8_t> hsv_saturation(const RgbImage& img);
// Median blur of a w x h plane with replicated borders: each output the middle one of the
// (2r+1)^2 values around it (OpenCV's medianBlur with ksize 2r+1).
std::vector<uint8_t> median_blur(const std::vector<uint8_t>& v, int w, int h, int r);
// HSV saturation, median blur (replicated border), Otsu threshold, as CLAM's segmentation.
TissueMask otsu_tissue_mask(const RgbImage& thumbnail, double downsample, int median_size = 7);

}  // namespace ds
