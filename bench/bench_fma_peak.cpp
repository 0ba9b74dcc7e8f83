// Prints this machine's measured single-precision FMA peak (bench/fma_peak.h) for 1 thread and
// for N threads (default: all cores; `bench_fma_peak N` to choose), as one JSON line: the 100%
// that the conv suite's fraction-of-peak figures refer to.
#include <cstdio>
#include <cstdlib>

#include "base/threads.h"
#include "engine/cpu_features.h"
#include "engine/fma_peak.h"

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : ds::hardware_threads();
  if (n < 1) {
    std::fprintf(stderr, "usage: bench_fma_peak [threads >= 1]\n");
    return 2;
  }
  const double one = ds::measured_fma_peak_gflops(1);
  const double all = ds::measured_fma_peak_gflops(n);
  std::printf("{\"isa\":\"%s\",\"gflops_1_thread\":%.1f,\"threads\":%d,\"gflops_n_threads\":%.1f}\n",
              ds::isa_name(ds::cpu_isa()), one, n, all);
  return 0;
}
