// NumPy's np.percentile with its default 'linear' method, by selection instead of a sort: the
// q-th percentile of n values is the value at rank q/100 * (n - 1), interpolated between the two
// order statistics around it. May reorder `v`.
#pragma once
#include <cstddef>
#include <utility>

namespace ds {

double percentile(float* v, size_t n, double q);

// The two order statistics around rank q/100 * (n - 1) and the weight of the upper one, for
// callers that interpolate in another space (stain/macenko.cpp interpolates angles).
struct Ranked {
  float lo = 0, hi = 0;
  double frac = 0;
};
Ranked percentile_neighbours(float* v, size_t n, double q);
// Two percentiles of the same values, sharing the passes over them (the histogram's).
std::pair<Ranked, Ranked> percentile_neighbours(float* v, size_t n, double q1, double q2);

}  // namespace ds
