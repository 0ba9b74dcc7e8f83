// parallel_for for drivers (window selection, patch export, data loading): runs fn(i) for
// i in [0, n) on `threads` threads (0 = the OpenMP default), dynamic scheduling, and rethrows
// the first exception any iteration threw once all threads have stopped. Keeps OpenMP pragmas
// out of driver code.
#pragma once
#include <cstdint>
#include <functional>

namespace ds {

void parallel_for(int64_t n, int threads, const std::function<void(int64_t)>& fn);

}  // namespace ds
