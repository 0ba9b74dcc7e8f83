// Percentiles by std::nth_element (see percentile.h): O(n), no copy, no full sort.
#include "stain/percentile.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace ds {

Ranked percentile_neighbours(float* v, size_t n, double q) {
  DS_CHECK(n > 0, "percentile of no values");
  const double pos = std::clamp(q, 0.0, 100.0) / 100.0 * (double)(n - 1);
  const size_t k = (size_t)std::floor(pos);
  std::nth_element(v, v + k, v + n);
  Ranked r;
  r.lo = r.hi = v[k];
  r.frac = pos - (double)k;
  if (k + 1 < n) r.hi = *std::min_element(v + k + 1, v + n);
  return r;
}

double percentile(float* v, size_t n, double q) {
  const Ranked r = percentile_neighbours(v, n, q);
  return (double)r.lo + ((double)r.hi - (double)r.lo) * r.frac;
}

}  // namespace ds
