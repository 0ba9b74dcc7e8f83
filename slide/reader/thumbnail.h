// A whole-slide thumbnail no larger than max_side on its longer side, read from the pyramid
// level closest above that size (never from level 0 of a large pyramid) and area-resized.
#pragma once
#include "slide/reader/image_io.h"
#include "slide/reader/slide.h"

namespace ds {

struct Thumbnail {
  RgbImage image;
  double downsample = 1.0;  // level-0 pixels per thumbnail pixel (x and y averaged)
};

Thumbnail read_thumbnail(const Slide& slide, int max_side);

}  // namespace ds
