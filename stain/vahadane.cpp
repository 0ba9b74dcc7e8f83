// Vahadane's sparse NMF stain matrix (see vahadane.h). Per iteration one pass over the sampled
// tissue ODs solves every pixel's two-atom non-negative lasso in closed form and sums what the
// atom update and the cost need (C^T C, OD^T C, sum C); the atom update itself is 2x3 numbers.
#include "stain/vahadane.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "stain/bit_select.h"
#include "stain/macenko.h"
#include "stain/stain_norm.h"

namespace ds {

namespace {

struct Sample {
  std::vector<double> x[3];  // the sampled tissue pixels' OD, one plane per channel
  std::vector<uint32_t> tissue;
};

Sample& scratch() {
  thread_local Sample s;
  return s;
}

// Macenko's tissue pixels, taken at indices floor(j * n / k) of the n found, k <= kVahadaneMaxPixels.
size_t tissue_sample(const RgbImage& img, Sample& s) {
  const float* od = two_stain_od_table();
  const size_t px = (size_t)img.width * img.height;
  const uint8_t* p = img.pixels.data();
  const float beta = (float)kMacenkoBeta;
  s.tissue.clear();
  for (size_t i = 0; i < px; ++i)
    if (od[p[i * 3]] >= beta && od[p[i * 3 + 1]] >= beta && od[p[i * 3 + 2]] >= beta) s.tissue.push_back((uint32_t)i);
  const size_t n = s.tissue.size(), k = std::min(n, (size_t)kVahadaneMaxPixels);
  for (auto& c : s.x) c.resize(k);
  for (size_t j = 0; j < k; ++j) {
    const size_t i = s.tissue[j * n / k];
    for (int c = 0; c < 3; ++c) s.x[c][j] = od[p[i * 3 + c]];
  }
  return k;
}

// What one code pass leaves for the atom update and the cost: A = C^T C, B = OD^T C, sum of C.
struct CodeStats {
  double A[2][2] = {}, B[3][2] = {}, sum_c = 0;
};

// Every pixel's argmin over c >= 0 of 0.5 ||x - c0 d0 - c1 d1||^2 + lambda (c0 + c1): the
// objective is 0.5 c^T G c - b^T c with b_k = d_k . x - lambda, so the answer is the first of
// these that meets the optimality conditions: both positive, G^-1 b; only c0, b0 / g00 (with
// g01 c0 >= b1); only c1 likewise; none.
bool code_pass(const Sample& s, size_t n, const double d[2][3], CodeStats& st) {
  const double g00 = d[0][0] * d[0][0] + d[0][1] * d[0][1] + d[0][2] * d[0][2];
  const double g11 = d[1][0] * d[1][0] + d[1][1] * d[1][1] + d[1][2] * d[1][2];
  const double g01 = d[0][0] * d[1][0] + d[0][1] * d[1][1] + d[0][2] * d[1][2];
  const double det = g00 * g11 - g01 * g01;
  if (!(det > 1e-12 * g00 * g11) || !(g00 > 0) || !(g11 > 0)) return false;
  const double* x0 = s.x[0].data();
  const double* x1 = s.x[1].data();
  const double* x2 = s.x[2].data();
  double a00 = 0, a01 = 0, a11 = 0, b00 = 0, b01 = 0, b10 = 0, b11 = 0, b20 = 0, b21 = 0, sc = 0;
  const double inv_det = 1 / det, inv00 = 1 / g00, inv11 = 1 / g11;
  for (size_t i = 0; i < n; ++i) {
    const double v0 = d[0][0] * x0[i] + d[0][1] * x1[i] + d[0][2] * x2[i] - kVahadaneLambda;
    const double v1 = d[1][0] * x0[i] + d[1][1] * x1[i] + d[1][2] * x2[i] - kVahadaneLambda;
    // All three candidates, then selects (branch-free, so the loop vectorises).
    const double both0 = (g11 * v0 - g01 * v1) * inv_det, both1 = (g00 * v1 - g01 * v0) * inv_det;
    const double q0 = v0 * inv00, q1 = v1 * inv11;
    const double only0 = bit_select(q0 > 0, q0, 0.0), only1 = bit_select(q1 > 0, q1, 0.0);
    const bool both = (both0 >= 0) & (both1 >= 0), first = g01 * only0 >= v1;
    const double c0 = bit_select(both, both0, bit_select(first, only0, 0.0));
    const double c1 = bit_select(both, both1, bit_select(first, 0.0, only1));
    a00 += c0 * c0, a01 += c0 * c1, a11 += c1 * c1;
    b00 += x0[i] * c0, b01 += x0[i] * c1, b10 += x1[i] * c0, b11 += x1[i] * c1, b20 += x2[i] * c0, b21 += x2[i] * c1;
    sc += c0 + c1;
  }
  st.A[0][0] = a00, st.A[0][1] = st.A[1][0] = a01, st.A[1][1] = a11;
  st.B[0][0] = b00, st.B[0][1] = b01, st.B[1][0] = b10, st.B[1][1] = b11, st.B[2][0] = b20, st.B[2][1] = b21;
  st.sum_c = sc;
  return true;
}

// One block-coordinate pass over the atoms (each the minimiser of the squared error with the other
// fixed), clipped to >= 0 and projected onto the unit ball. An atom no pixel uses is left as it is
// (scikit-learn would redraw it from a random pixel).
void atom_pass(const CodeStats& st, double d[2][3]) {
  for (int k = 0; k < 2; ++k) {
    if (!(st.A[k][k] > 1e-6)) continue;
    double norm = 0;
    for (int f = 0; f < 3; ++f) {
      const double v = d[k][f] + (st.B[f][k] - st.A[k][0] * d[0][f] - st.A[k][1] * d[1][f]) / st.A[k][k];
      d[k][f] = std::max(v, 0.0);
      norm += d[k][f] * d[k][f];
    }
    const double scale = std::max(std::sqrt(norm), 1.0);
    for (double& v : d[k]) v /= scale;
  }
}

double cost(const CodeStats& st, double xx, const double d[2][3]) {
  double fit = xx;
  for (int k = 0; k < 2; ++k)
    for (int f = 0; f < 3; ++f) fit -= 2 * d[k][f] * st.B[f][k];
  for (int j = 0; j < 2; ++j)
    for (int k = 0; k < 2; ++k) fit += st.A[j][k] * (d[j][0] * d[k][0] + d[j][1] * d[k][1] + d[j][2] * d[k][2]);
  return 0.5 * fit + kVahadaneLambda * st.sum_c;
}

// The dictionary learning from `d` (in place); the iterations it took, or 0 when it degenerated.
int learn(const Sample& s, size_t n, double d[2][3]) {
  double xx = 0;
  for (int c = 0; c < 3; ++c)
    for (size_t i = 0; i < n; ++i) xx += s.x[c][i] * s.x[c][i];
  double last = 0;
  for (int it = 0; it < kVahadaneMaxIter; ++it) {
    CodeStats st;
    if (!code_pass(s, n, d, st)) return 0;
    atom_pass(st, d);
    const double e = cost(st, xx, d);
    if (it > 0 && last - e < kVahadaneTol * e) return it + 1;
    last = e;
  }
  return kVahadaneMaxIter;
}

}  // namespace

VahadaneFit vahadane_fit(const RgbImage& img) {
  VahadaneFit fit;
  StainPair start;
  if (!macenko_vectors(img, start)) return fit;
  double d[2][3];
  for (int k = 0; k < 2; ++k) {
    double norm = 0;
    for (int f = 0; f < 3; ++f) d[k][f] = std::max(start[k][f], 0.0), norm += d[k][f] * d[k][f];
    if (!(norm > 0)) return fit;
    for (double& v : d[k]) v /= std::sqrt(norm);
  }
  Sample& s = scratch();
  const size_t n = tissue_sample(img, s);
  fit.iterations = learn(s, n, d);
  if (fit.iterations == 0) return fit;
  for (int k = 0; k < 2; ++k) {
    const double norm = std::sqrt(d[k][0] * d[k][0] + d[k][1] * d[k][1] + d[k][2] * d[k][2]);
    if (!(norm > 1e-9)) return fit;
    for (int f = 0; f < 3; ++f) fit.stains[k][f] = d[k][f] / norm;
  }
  if (fit.stains[0][0] < fit.stains[1][0]) std::swap(fit.stains[0], fit.stains[1]);  // haematoxylin: more red OD
  fit.ok = stain_max_conc(img, fit.stains, fit.max_conc);
  return fit;
}

}  // namespace ds
