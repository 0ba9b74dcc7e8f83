// Reinhard et al. 2001, "Color transfer between images": each channel of the image in a
// decorrelated colour space is shifted and scaled so its mean and standard deviation become the
// reference's. The space here is CIE LAB as scikit-image computes it (stain/colour.h), the
// statistics are over every pixel (population standard deviation), and the result goes back
// through skimage's lab2rgb, rounded to 8 bits. Tables replace the sRGB curve and the cube root.
#pragma once
#include <array>

#include "base/rgb_image.h"

namespace ds {

struct LabStats {
  std::array<double, 3> mean{}, std{};
};

LabStats lab_stats(const RgbImage& img);

// Moves img's LAB statistics to (mean, std); a channel with no spread in img is only shifted.
void reinhard_apply(RgbImage& img, const LabStats& target);
// The same map from statistics fitted beforehand (a slide's): img's own are not computed.
void reinhard_transfer(RgbImage& img, const LabStats& source, const LabStats& target);

}  // namespace ds
