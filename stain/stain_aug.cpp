// Stain augmentation's draws and the perturbed stain matrix (see stain_aug.h).
#include "stain/stain_aug.h"

#include <cmath>

#include "base/error.h"
#include "stain/colour.h"

namespace ds {

StainAug parse_stain_aug(const std::string& name) {
  if (name == "none") return StainAug::none;
  if (name == "hed") return StainAug::hed;
  if (name == "matrix") return StainAug::matrix;
  if (name == "both") return StainAug::both;
  throw InputError("--stain-aug must be hed, matrix or both, got '" + name + "'");
}

std::string stain_aug_name(StainAug a) {
  switch (a) {
    case StainAug::hed: return "hed";
    case StainAug::matrix: return "matrix";
    case StainAug::both: return "both";
    default: return "none";
  }
}

StainJitter draw_stain_jitter(const StainAugOptions& opt, Rng& rng) {
  StainJitter j;
  if (opt.kind == StainAug::hed || opt.kind == StainAug::both) j.hed = draw_hed_jitter(opt.hed, rng);
  if (opt.kind == StainAug::matrix || opt.kind == StainAug::both)
    for (auto& v : j.vector_factor)
      for (float& f : v) f = rng.uniform(1.f - opt.vectors, 1.f + opt.vectors);
  return j;
}

std::array<std::array<float, 3>, 3> perturbed_stain_matrix(const std::array<std::array<float, 3>, 2>& factor) {
  const Mat3& m = rgb_from_hed();
  std::array<std::array<float, 3>, 3> out;
  for (int r = 0; r < 3; ++r) {
    double before = 0, after = 0, row[3];
    for (int c = 0; c < 3; ++c) {
      row[c] = m[r][c] * (r < 2 ? factor[r][c] : 1.0);
      before += m[r][c] * m[r][c];
      after += row[c] * row[c];
    }
    const double scale = after > 0 ? std::sqrt(before / after) : 1.0;
    for (int c = 0; c < 3; ++c) out[r][c] = (float)(row[c] * scale);
  }
  return out;
}

void apply_stain_jitter(RgbImage& img, const StainJitter& j) {
  apply_hed_jitter(img, j.hed, perturbed_stain_matrix(j.vector_factor));
}

}  // namespace ds
