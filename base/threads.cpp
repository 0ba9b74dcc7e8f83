// Thread-count control; the only place outside kernels that talks to OpenMP.
#include "base/threads.h"

#include <omp.h>

#include <thread>

#include "base/error.h"

namespace ds {

void check_thread_count(int n, const std::string& flag) {
  if (n < 0) throw InputError(flag + " " + std::to_string(n) + " is negative (0 or absent: every core)");
  if (n > kMaxThreads)
    throw InputError(flag + " " + std::to_string(n) + " is more than the " + std::to_string(kMaxThreads) +
                     " threads deepslide runs");
}

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? (int)n : 1;
}

void set_num_threads(int n) {
  check_thread_count(n, "--threads");
  omp_set_num_threads(n > 0 ? n : hardware_threads());
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace ds
