// A slide's own stain statistics for `--stain-fit slide`: the reference's method fitted once on
// the slide's tissue thumbnail (read_thumbnail at kStainThumbnail px, tissue by the CLAM-style
// Otsu saturation mask of tissue_filter.h, whatever --tissue chooses windows by), so each window
// of the slide then costs only the transform (stain/stain_norm.h). The thumbnail's tissue pixels
// are the fit's input, in raster order, as if they were one image one pixel high (Macenko's and
// Vahadane's background drop and Vahadane's even-stride subsample then apply to them as to a
// window's pixels).
#pragma once
#include "slide/reader/slide.h"
#include "slide/windows/tissue_filter.h"
#include "stain/stain_norm.h"

namespace ds {

// Longer side of the thumbnail a slide's stain is fitted on: enough pixels that the statistics
// settle, few enough that the mask's median filter and the fit take tens of milliseconds.
constexpr int kStainThumbnail = 1024;

// The pixels of `img` where `mask` (of the same size) is on, in raster order, as a width x 1 image.
RgbImage masked_pixels(const RgbImage& img, const TissueMask& mask);

// The slide's glass: each channel's median over the pixels `mask` leaves out, or white (255, 255,
// 255) when fewer than kMinBackgroundPixels (and 1% of the image) are left out or a channel's
// median is below kMinBackgroundLevel. What fit_thumbnail_stain white-balances the slide by.
constexpr size_t kMinBackgroundPixels = 256;
constexpr double kMinBackgroundLevel = 128.0;
std::array<double, 3> background_colour(const RgbImage& img, const TissueMask& mask);

// ref.fit == StainScope::slide: the slide's background colour (`white`, background_colour), and
// ref.method fitted on the slide's tissue thumbnail white-balanced by it (method none when it holds
// too little tissue: each window is then fitted alone, after the white balance); otherwise method
// none. Read errors propagate (InputError naming the slide).
SlideStain fit_slide_stain(const Slide& slide, const StainReference& ref);

// The same on a thumbnail already read (tests, and callers that hold one).
SlideStain fit_thumbnail_stain(const RgbImage& thumbnail, const StainReference& ref);

}  // namespace ds
