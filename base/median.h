// The median of a list of timings (the middle value, or the mean of the two middle ones): what
// every benchmark and tuning run here reports and compares.
#pragma once
#include <algorithm>
#include <vector>

namespace ds {

// v must not be empty.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace ds
