// Percentiles by selection (see percentile.h). Small inputs: std::nth_element. Large ones (a
// window's 50 K pixels): a histogram of the values finds the bin holding the wanted rank, and only
// that bin's values are selected among, so the cost is a few streaming passes rather than
// nth_element's data-dependent partitioning (which was most of a Macenko window's time). Both give
// the exact order statistics.
#include "stain/percentile.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/error.h"

namespace ds {

namespace {

constexpr size_t kHistogramFrom = 4096;
constexpr int kBins = 4096;

Ranked by_nth_element(float* v, size_t n, size_t k, double frac) {
  std::nth_element(v, v + k, v + n);
  Ranked r;
  r.lo = r.hi = v[k];
  r.frac = frac;
  if (k + 1 < n) r.hi = *std::min_element(v + k + 1, v + n);
  return r;
}

Ranked by_histogram(const float* v, size_t n, size_t k, double frac) {
  float lo = v[0], hi = v[0];
  for (size_t i = 0; i < n; ++i) lo = std::min(lo, v[i]), hi = std::max(hi, v[i]);
  Ranked r;
  r.frac = frac;
  if (!(hi > lo)) {  // all equal (or NaN: the caller's values are finite)
    r.lo = r.hi = lo;
    return r;
  }
  // bin(x) is monotone in x, so the bins partition the values in order.
  const float scale = (float)(kBins - 1) / (hi - lo);
  auto bin = [&](float x) { return std::min(kBins - 1, (int)((x - lo) * scale)); };
  thread_local std::vector<uint32_t> count;
  count.assign(kBins, 0);
  for (size_t i = 0; i < n; ++i) count[(size_t)bin(v[i])]++;
  size_t before = 0;
  int b = 0;
  while (before + count[(size_t)b] <= k) before += count[(size_t)b++];
  thread_local std::vector<float> in_bin;
  in_bin.clear();
  for (size_t i = 0; i < n; ++i)
    if (bin(v[i]) == b) in_bin.push_back(v[i]);
  const size_t kk = k - before;
  std::nth_element(in_bin.begin(), in_bin.begin() + (ptrdiff_t)kk, in_bin.end());
  r.lo = r.hi = in_bin[kk];
  if (kk + 1 < in_bin.size()) {
    r.hi = *std::min_element(in_bin.begin() + (ptrdiff_t)kk + 1, in_bin.end());
  } else if (k + 1 < n) {  // the next value is the smallest of the next non-empty bin
    int b2 = b + 1;
    while (count[(size_t)b2] == 0) ++b2;
    float m = hi;
    for (size_t i = 0; i < n; ++i)
      if (bin(v[i]) == b2) m = std::min(m, v[i]);
    r.hi = m;
  }
  return r;
}

}  // namespace

Ranked percentile_neighbours(float* v, size_t n, double q) {
  DS_CHECK(n > 0, "percentile of no values");
  const double pos = std::clamp(q, 0.0, 100.0) / 100.0 * (double)(n - 1);
  const size_t k = (size_t)std::floor(pos);
  return n < kHistogramFrom ? by_nth_element(v, n, k, pos - (double)k) : by_histogram(v, n, k, pos - (double)k);
}

double percentile(float* v, size_t n, double q) {
  const Ranked r = percentile_neighbours(v, n, q);
  return (double)r.lo + ((double)r.hi - (double)r.lo) * r.frac;
}

}  // namespace ds
