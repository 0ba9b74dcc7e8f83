// Resampling of 8-bit RGB images: area averaging (exact box-filter weights, separable), which is
// what downscaling a patch read at a nearby pyramid level to the target resolution needs; for
// upscaling it reduces to linear-ish interpolation over the covered source pixels.
#pragma once
#include "slide/reader/image_io.h"

namespace ds {

RgbImage resize_area(const RgbImage& src, int out_w, int out_h);

}  // namespace ds
