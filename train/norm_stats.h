// Per-channel mean and standard deviation of the training patches (0..1 units, as torchvision's
// Normalize after ToTensor), computed before training from a deterministic, evenly spaced sample
// of up to `max_samples` training patches (no augmentation) and stored in the model file.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "stain/stain_norm.h"
#include "train/dataset.h"

namespace ds {

struct NormStats {
  std::array<float, 3> mean{}, std{};
  int64_t patches = 0;  // readable patches the figures come from
  // Sampled patches whose read failed (index into data.train, the error), in index order; they
  // are left out of the figures (which are meaningless when patches == 0).
  std::vector<std::pair<int64_t, std::string>> failed;
};

// `stain`: the run's stain normalisation, applied to each patch first (training normalises the
// stains before the mean/std, so the statistics are those of the normalised patches).
// `slide_stains`: --stain-fit slide's per-slide statistics (train/stain_fit.h).
NormStats compute_norm_stats(const Dataset& data, int64_t max_samples, int threads, const StainReference& stain = {},
                             const std::vector<SlideStain>& slide_stains = {});

}  // namespace ds
