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
  // skimage: od = -ln(max(v / 255, 1e-6)); hed = max(0, od @ hed_from_rgb) in OD units (the
  // 1/13.8 of separate_stains and the 13.8 of combine_stains cancel); out = exp(-hed' @ rgb_from_hed).
  static const OdTable od_table(0.0, 255.0, 255e-6);
  static const ExpTable exp_table(255.0);
  const Mat3& fwd = hed_from_rgb();
  const Mat3& back = rgb_from_hed();
  float F[3][3], B[3][3];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) F[r][c] = (float)fwd[r][c], B[r][c] = (float)back[r][c];
  uint8_t* p = img.pixels.data();
  const size_t px = (size_t)img.width * img.height;
  for (size_t i = 0; i < px; ++i) {
    const float o[3] = {od_table.od[p[i * 3]], od_table.od[p[i * 3 + 1]], od_table.od[p[i * 3 + 2]]};
    float s[3];
    for (int k = 0; k < 3; ++k)
      s[k] = std::max(0.f, o[0] * F[0][k] + o[1] * F[1][k] + o[2] * F[2][k]) * j.alpha[k] + j.beta[k];
    for (int c = 0; c < 3; ++c) p[i * 3 + c] = exp_table(s[0] * B[0][c] + s[1] * B[1][c] + s[2] * B[2][c]);
  }
}

}  // namespace ds
