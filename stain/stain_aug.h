// Stain augmentation for training (`train --stain-aug hed|matrix|both`): HED jitter
// (stain/hed_jitter.h: each stain's concentration scaled and shifted) and random stain-matrix
// perturbation: the window is deconvolved with skimage's H&E-DAB matrix as HED jitter does, and
// drawn back with the haematoxylin and eosin optical-density vectors perturbed, each component
// multiplied by U(1 - s, 1 + s) and the vector rescaled to its original length, so the stains
// change hue (another lab's vectors) while their amounts stay. DAB's vector stays. Both draw from
// the caller's seeded Rng, HED first, so a run with `hed` draws exactly as before the choice.
#pragma once
#include <array>
#include <string>

#include "base/rgb_image.h"
#include "base/rng.h"
#include "stain/hed_jitter.h"

namespace ds {

enum class StainAug { none, hed, matrix, both };

StainAug parse_stain_aug(const std::string& name);  // InputError on an unknown name
std::string stain_aug_name(StainAug a);

struct StainAugOptions {
  StainAug kind = StainAug::none;
  HedJitterOptions hed;
  float vectors = 0.1f;  // matrix: each H and E vector component times U(1 - vectors, 1 + vectors)
};

struct StainJitter {
  HedJitter hed;  // identity unless kind is hed or both
  // Factors of the H and E vectors' components (r, g, b); all 1 unless kind is matrix or both.
  std::array<std::array<float, 3>, 2> vector_factor{{{1, 1, 1}, {1, 1, 1}}};
};

// HED's six draws (draw_hed_jitter) when kind is hed or both, then six more for the vectors
// (H r, g, b, then E r, g, b) when kind is matrix or both.
StainJitter draw_stain_jitter(const StainAugOptions& opt, Rng& rng);

// skimage's rgb_from_hed with the H and E rows perturbed by `factor` and rescaled to their lengths.
std::array<std::array<float, 3>, 3> perturbed_stain_matrix(const std::array<std::array<float, 3>, 2>& factor);

// Both in one pass over the window.
void apply_stain_jitter(RgbImage& img, const StainJitter& j);

}  // namespace ds
