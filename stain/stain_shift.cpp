// The synthetic stain shift (see stain_shift.h): optical density through one 3x3 map and an
// offset, OD' = OD * hed_from_rgb * diag(k) * rgb_from_hed' - ln(gain), then a table back to 8 bits.
#include "stain/stain_shift.h"

#include <cmath>

#include "stain/colour.h"
#include "stain/stain_tables.h"

namespace ds {

namespace {

std::array<double, 3> unit(std::array<double, 3> v) {
  const double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  return {v[0] / n, v[1] / n, v[2] / n};
}

}  // namespace

void shift_stain(RgbImage& img, double S) {
  if (S == 0) return;
  static const OdTable od_table(0.0, 255.0, 255e-6);
  static const ExpTable exp_table(255.0);
  Mat3 to = rgb_from_hed();
  const Mat3& from = hed_from_rgb();
  // Haematoxylin absorbs more red (bluer), eosin more blue (more magenta).
  const auto& h = to[0];
  const auto& e = to[1];
  to[0] = unit({h[0] + 0.25 * S, h[1] - 0.15 * S, h[2] - 0.10 * S});
  to[1] = unit({e[0] + 0.10 * S, e[1] + 0.05 * S, e[2] + 0.30 * S});
  const double k[3] = {1 + 0.25 * S, 1 + 0.15 * S, 1.0};  // heavier staining
  const double gain[3] = {1 - 0.08 * S, 1 - 0.02 * S, 1 + 0.06 * S};
  LinearOdMap map;
  for (int r = 0; r < 3; ++r)      // input OD channel
    for (int c = 0; c < 3; ++c) {  // output OD channel
      double v = 0;
      for (int s = 0; s < 3; ++s) v += from[r][s] * k[s] * to[s][c];
      map.M[r][c] = (float)v;
    }
  for (int c = 0; c < 3; ++c) map.off[c] = (float)-std::log(gain[c]);
  redraw_od(img.pixels.data(), (size_t)img.width * img.height, od_table.od, exp_table.data(), map);
}

}  // namespace ds
