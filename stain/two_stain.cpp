// The shared two-stain concentration and redraw steps (see two_stain.h).
#include "stain/two_stain.h"

#include <cmath>
#include <vector>

#include "stain/percentile.h"
#include "stain/stain_loops.h"
#include "stain/stain_norm.h"
#include "stain/stain_tables.h"

namespace ds {

namespace {

const OdTable& od_table() {
  static const OdTable t(1.0, kMacenkoIo);
  return t;
}

const ExpTable& exp_table() {
  static const ExpTable t(kMacenkoIo);
  return t;
}

// (HE^T HE)^-1 HE^T: each pixel's least-squares concentrations are these rows times its OD.
bool pseudo_inverse(const StainPair& he, double pinv[2][3]) {
  double g[2][2];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) g[i][j] = he[i][0] * he[j][0] + he[i][1] * he[j][1] + he[i][2] * he[j][2];
  const double det = g[0][0] * g[1][1] - g[0][1] * g[1][0];
  if (!(std::fabs(det) > 1e-12)) return false;
  const double inv[2][2] = {{g[1][1] / det, -g[0][1] / det}, {-g[1][0] / det, g[0][0] / det}};
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 3; ++k) pinv[i][k] = inv[i][0] * he[0][k] + inv[i][1] * he[1][k];
  return true;
}

}  // namespace

const float* two_stain_od_table() { return od_table().od; }

bool stain_max_conc(const RgbImage& img, const StainPair& stains, std::array<double, 2>& max_conc) {
  double P[2][3];
  if (!pseudo_inverse(stains, P)) return false;
  thread_local std::vector<float> a, b;
  const float* od = od_table().od;
  const size_t px = (size_t)img.width * img.height;
  if (px == 0) return false;
  a.resize(px);
  b.resize(px);
  const float p0[3] = {(float)P[0][0], (float)P[0][1], (float)P[0][2]};
  const float p1[3] = {(float)P[1][0], (float)P[1][1], (float)P[1][2]};
  stain_loops().project_od(img.pixels.data(), px, od, p0, p1, a.data(), b.data());
  max_conc = {percentile(a.data(), px, 99), percentile(b.data(), px, 99)};
  return max_conc[0] > 1e-6 && max_conc[1] > 1e-6;
}

void redraw_two_stain(RgbImage& img, const StainPair& src, const std::array<double, 2>& src_max, const StainPair& ref,
                      const std::array<double, 2>& ref_max) {
  double P[2][3];
  if (!pseudo_inverse(src, P)) return;
  // OD_out = HE_ref * diag(maxC_ref / maxC_src) * pinv(HE_src) * OD_in.
  LinearOdMap map{};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c)
      map.M[c][r] =
          (float)(ref[0][r] * ref_max[0] / src_max[0] * P[0][c] + ref[1][r] * ref_max[1] / src_max[1] * P[1][c]);
  stain_loops().redraw_linear(img.pixels.data(), (size_t)img.width * img.height, od_table().od, exp_table().data(),
                              map.M, map.off);
}

}  // namespace ds
