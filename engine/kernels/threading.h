// When a kernel loop runs on several threads: every OpenMP region in engine/kernels/ asks
// use_threads() in its if() clause. Engine-internal (kernels only; drivers use base/parallel.h).
#pragma once
#include <omp.h>

#include "engine/cpu_features.h"

namespace ds {

// Work below which a parallel region costs more than it saves: for compute-bound kernels counted
// in flops (convolutions), and for memory-bound passes counted in elements.
constexpr double kMinParallelFlops = 2e6;
constexpr double kMinParallelElements = 1 << 15;

// More than min_work units of work, not already inside a parallel region (kernels do not nest),
// and not in reference mode (DEEPSLIDE_ISA=ref), whose loops all run on the calling thread so
// that a debugger steps through them in order.
inline bool use_threads(double work, double min_work) {
  return work > min_work && !omp_in_parallel() && !reference_kernels();
}

}  // namespace ds
