// Macenko's stain estimate and redraw (see macenko.h). Per window: one pass for the tissue ODs and
// their covariance, one for the angles, one for the concentrations, one for the redraw. Percentiles
// by selection (stain/percentile.h); when every tissue pixel projects positively on the first
// eigenvector (H&E always does), angles are ranked by the tangent p2/p1 (monotone on (-pi/2, pi/2))
// and only the two order statistics go through atan.
#include "stain/macenko.h"

#include <cmath>
#include <utility>
#include <vector>

#include <Eigen/Dense>

#include "stain/percentile.h"
#include "stain/stain_loops.h"
#include "stain/stain_norm.h"
#include "stain/two_stain.h"

namespace ds {

namespace {

struct Scratch {
  std::vector<float> od[3];  // tissue pixels' OD
  std::vector<float> a;      // angles (or tangents)
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

using Vec3 = std::array<double, 3>;

double interpolate(const Ranked& r, bool tangent) {
  const double lo = tangent ? std::atan((double)r.lo) : r.lo, hi = tangent ? std::atan((double)r.hi) : r.hi;
  return lo + (hi - lo) * r.frac;
}

// The angles at percentiles q and 100 - q of the tissue ODs projected on (v1, v2), as NumPy
// computes np.percentile(np.arctan2(p2, p1), [q, 100 - q]).
std::pair<double, double> angle_percentiles(Scratch& s, size_t n, const Vec3& v1, const Vec3& v2, double q) {
  const float* o0 = s.od[0].data();
  const float* o1 = s.od[1].data();
  const float* o2 = s.od[2].data();
  s.a.resize(n);
  float* t = s.a.data();
  const float f1[3] = {(float)v1[0], (float)v1[1], (float)v1[2]}, f2[3] = {(float)v2[0], (float)v2[1], (float)v2[2]};
  const bool positive = stain_loops().tangents(o0, o1, o2, n, f1, f2, t);
  if (!positive) {
    for (size_t i = 0; i < n; ++i) {
      const double p1 = v1[0] * o0[i] + v1[1] * o1[i] + v1[2] * o2[i];
      const double p2 = v2[0] * o0[i] + v2[1] * o1[i] + v2[2] * o2[i];
      t[i] = (float)std::atan2(p2, p1);
    }
  }
  const auto [lo, hi] = percentile_neighbours(t, n, q, 100 - q);
  return {interpolate(lo, positive), interpolate(hi, positive)};
}

// Tissue ODs into the scratch and their covariance's two leading eigenvectors; false when there
// are too few tissue pixels.
bool tissue_plane(const RgbImage& img, Scratch& s, size_t& n, Vec3& v1, Vec3& v2) {
  const float* od = two_stain_od_table();
  const size_t px = (size_t)img.width * img.height;
  for (auto& v : s.od) v.resize(px);
  const uint8_t* p = img.pixels.data();
  n = 0;
  double sum[3] = {0, 0, 0}, sxx[6] = {0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < px; ++i) {
    const float a = od[p[i * 3]], b = od[p[i * 3 + 1]], c = od[p[i * 3 + 2]];
    if (a < (float)kMacenkoBeta || b < (float)kMacenkoBeta || c < (float)kMacenkoBeta) continue;
    s.od[0][n] = a, s.od[1][n] = b, s.od[2][n] = c;
    ++n;
    sum[0] += a, sum[1] += b, sum[2] += c;
    sxx[0] += (double)a * a, sxx[1] += (double)a * b, sxx[2] += (double)a * c;
    sxx[3] += (double)b * b, sxx[4] += (double)b * c, sxx[5] += (double)c * c;
  }
  if (n < (size_t)kMacenkoMinTissue) return false;
  const double N = (double)n;
  Eigen::Matrix3d cov;
  const int idx[3][3] = {{0, 1, 2}, {1, 3, 4}, {2, 4, 5}};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) cov(i, j) = (sxx[idx[i][j]] - sum[i] * sum[j] / N) / (N - 1);
  Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> es(cov);
  if (es.info() != Eigen::Success) return false;
  const Eigen::Matrix3d V = es.eigenvectors();  // eigenvalues ascending
  const double sign = V.col(2).sum() < 0 ? -1 : 1;
  for (int i = 0; i < 3; ++i) v1[i] = sign * V(i, 2), v2[i] = V(i, 1);
  return true;
}

}  // namespace

bool macenko_vectors(const RgbImage& img, StainPair& stains) {
  Scratch& s = scratch();
  size_t n = 0;
  Vec3 v1, v2;
  if (!tissue_plane(img, s, n, v1, v2)) return false;
  const auto [lo, hi] = angle_percentiles(s, n, v1, v2, kMacenkoAlpha);
  Vec3 vmin, vmax;
  for (int i = 0; i < 3; ++i) {
    vmin[i] = v1[i] * std::cos(lo) + v2[i] * std::sin(lo);
    vmax[i] = v1[i] * std::cos(hi) + v2[i] * std::sin(hi);
  }
  stains = vmin[0] > vmax[0] ? StainPair{vmin, vmax} : StainPair{vmax, vmin};
  return true;
}

MacenkoFit macenko_fit(const RgbImage& img) {
  MacenkoFit fit;
  fit.ok = macenko_vectors(img, fit.stains) && stain_max_conc(img, fit.stains, fit.max_conc);
  return fit;
}

}  // namespace ds
