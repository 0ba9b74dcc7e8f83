// Stain augmentation for training: HED jitter (Tellez et al. 2018, "Whole-slide mitosis detection
// in H&E breast histology using PHH3 as a reference to train distilled stain-invariant
// convolutional networks"): the image is deconvolved into haematoxylin, eosin and DAB with
// skimage's rgb2hed (stain/colour.h), each channel becomes alpha * s + beta with alpha drawn from
// U(1 - scale, 1 + scale) and beta from U(-shift, shift), and hed2rgb draws it back. Here beta is
// in optical-density units (natural log; skimage's HED units times 13.8), so shift 0.05 moves a
// stain's optical density by at most 0.05.
#pragma once
#include <array>

#include "base/rgb_image.h"
#include "base/rng.h"

namespace ds {

struct HedJitterOptions {
  float scale = 0.05f;  // alpha in [1 - scale, 1 + scale]
  float shift = 0.05f;  // beta in [-shift, shift], optical density
};

struct HedJitter {
  std::array<float, 3> alpha{1, 1, 1}, beta{0, 0, 0};
};

// Six uniform draws from rng: alpha for H, E, D, then beta for H, E, D.
HedJitter draw_hed_jitter(const HedJitterOptions& opt, Rng& rng);

// rgb2hed, hed * alpha + beta (beta / 13.8 in skimage's units), hed2rgb, rounded to 8 bits.
void apply_hed_jitter(RgbImage& img, const HedJitter& j);
// The same, but drawn back with `rgb_from_stains` (rows: the H, E and D optical-density vectors)
// instead of skimage's rgb_from_hed: the stain-matrix perturbation of stain/stain_aug.h.
void apply_hed_jitter(RgbImage& img, const HedJitter& j, const std::array<std::array<float, 3>, 3>& rgb_from_stains);

}  // namespace ds
