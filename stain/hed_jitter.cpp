// HED jitter (see hed_jitter.h): a table for the optical densities, two 3x3 products per pixel,
// a table for the exponential.
#include "stain/hed_jitter.h"

#include <algorithm>

#include "stain/colour.h"
#include "stain/stain_tables.h"

namespace ds {

HedJitter draw_hed_jitter(const HedJitterOptions& opt, Rng& rng) {
  HedJitter j;
  for (float& a : j.alpha) a = rng.uniform(1.f - opt.scale, 1.f + opt.scale);
  for (float& b : j.beta) b = rng.uniform(-opt.shift, opt.shift);
  return j;
}

void apply_hed_jitter(RgbImage& img, const HedJitter& j) {
  const Mat3& back = rgb_from_hed();
  std::array<std::array<float, 3>, 3> B;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) B[r][c] = (float)back[r][c];
  apply_hed_jitter(img, j, B);
}

void apply_hed_jitter(RgbImage& img, const HedJitter& j, const std::array<std::array<float, 3>, 3>& back) {
  // skimage: od = -ln(max(v / 255, 1e-6)); hed = max(0, od @ hed_from_rgb) in OD units (the
  // 1/13.8 of separate_stains and the 13.8 of combine_stains cancel); out = exp(-hed' @ rgb_from_hed).
  static const OdTable od_table(0.0, 255.0, 255e-6);
  static const ExpTable exp_table(255.0);
  const Mat3& fwd = hed_from_rgb();
  float F[3][3], B[3][3];  // locals: the compiler knows the output stores do not touch them
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) F[r][c] = (float)fwd[r][c], B[r][c] = back[r][c];
  const float alpha[3] = {j.alpha[0], j.alpha[1], j.alpha[2]}, beta[3] = {j.beta[0], j.beta[1], j.beta[2]};
  alignas(64) float s[3][256];
  auto map = [&](const float* o0, const float* o1, const float* o2, float* r0, float* r1, float* r2, size_t n) {
    for (int k = 0; k < 3; ++k)
      for (size_t i = 0; i < n; ++i) {
        const float v = o0[i] * F[0][k] + o1[i] * F[1][k] + o2[i] * F[2][k];
        s[k][i] = std::max(v, 0.f) * alpha[k] + beta[k];
      }
    float* r[3] = {r0, r1, r2};
    for (int c = 0; c < 3; ++c)
      for (size_t i = 0; i < n; ++i) r[c][i] = s[0][i] * B[0][c] + s[1][i] * B[1][c] + s[2][i] * B[2][c];
  };
  redraw_od(img.pixels.data(), (size_t)img.width * img.height, od_table.od, exp_table.data(), map);
}

}  // namespace ds
