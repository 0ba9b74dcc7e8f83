// parallel_for on OpenMP with exception capture.
#include "base/parallel.h"

#include <omp.h>

#include <atomic>
#include <exception>
#include <mutex>

namespace ds {

void parallel_for(int64_t n, int threads, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  std::exception_ptr first;
  std::mutex mu;
  std::atomic<bool> failed{false};
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
  for (int64_t i = 0; i < n; ++i) {
    if (failed.load(std::memory_order_relaxed)) continue;
    try {
      fn(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!first) first = std::current_exception();
      failed = true;
    }
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace ds
