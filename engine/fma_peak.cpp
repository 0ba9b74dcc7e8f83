// measured_fma_peak_gflops (see fma_peak.h): run-time dispatch to the chains of the ISA
// cpu_isa() picks, iteration count calibrated to ~0.05 s, all threads started together and timed
// as one region (wall clock), best of 10 (short runs, many tries: on a shared machine the best
// run is the one no other process interrupted); and measured_bf16_dot_ratio and
// measured_int8_dot_ratio, one thread's bf16 or int8 chains against its fp32 ones the same way,
// shorter.
#include "engine/fma_peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "base/threads.h"
#include "engine/cpu_features.h"

namespace ds {

namespace fma_detail {

float fma_chains_scalar(int64_t iters) {
  float c[16];
  for (int j = 0; j < 16; ++j) c[j] = 0.1f * (float)j;
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 16; ++j) c[j] = c[j] * 0.999f + 1e-3f;
  float s = 0;
  for (float v : c) s += v;
  return s;
}

}  // namespace fma_detail

namespace {

using Clock = std::chrono::steady_clock;

// Wall seconds for `threads` threads each running `iters` iterations of `chains`.
double run_seconds(float (*chains)(int64_t), int64_t iters, int threads, float* sink) {
  std::vector<float> out((size_t)threads, 0.f);
  Clock::time_point t0;
#pragma omp parallel num_threads(threads)
  {
#pragma omp barrier
#pragma omp single
    t0 = Clock::now();  // implicit barrier after single: everyone starts after t0
    out[(size_t)omp_get_thread_num()] = chains(iters);
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  for (float v : out) *sink += v;
  return s;
}

// Best GFLOP/s of `runs` runs of chains on `threads` threads, each run ~min_seconds.
double best_gflops(float (*chains)(int64_t), int64_t flops, int threads, double min_seconds, int runs) {
  float sink = 0;
  int64_t iters = 1 << 12;  // grow until one run takes min_seconds
  while (run_seconds(chains, iters, threads, &sink) < min_seconds && iters < (int64_t{1} << 34)) iters *= 2;
  double best = 0;
  for (int r = 0; r < runs; ++r) {
    const double s = run_seconds(chains, iters, threads, &sink);
    best = std::max(best, (double)flops * (double)iters * threads / s * 1e-9);
  }
  volatile float keep = sink;
  (void)keep;
  return best;
}

// One thread's rate of `chains` (flops or operations an iteration) over its AVX-512 FMA chains',
// the best of five short runs of each, alternating: a burst of noise (another process, a frequency
// change) then costs both sides alike instead of all three runs of one (a loaded CI machine saw
// an int8 ratio of 8.3 where the hardware's is 4.2).
double rate_against_fma(float (*chains)(int64_t), int64_t flops) {
  double fp32 = 0, other = 0;
  for (int r = 0; r < 5; ++r) {
    fp32 = std::max(fp32, best_gflops(fma_detail::fma_chains_avx512, fma_detail::kAvx512Flops, 1, 0.01, 1));
    other = std::max(other, best_gflops(chains, flops, 1, 0.01, 1));
  }
  return fp32 > 0 ? other / fp32 : 0.0;
}

}  // namespace

double measured_bf16_dot_ratio() {
  if (!has_bf16_kernels()) return 0.0;
  static const double ratio = rate_against_fma(fma_detail::bf16_chains_avx512bf16, fma_detail::kBf16Flops);
  return ratio;  // the hardware's: measured once
}

double measured_int8_dot_ratio() {
  if (!has_avx512_vnni_kernels()) return 0.0;
  static const double ratio = rate_against_fma(fma_detail::int8_chains_avx512vnni, fma_detail::kInt8Ops);
  return ratio;  // the hardware's: measured once
}

double measured_fma_peak_gflops(int threads) {
  if (threads <= 0) threads = hardware_threads();
  float (*chains)(int64_t) = fma_detail::fma_chains_scalar;
  int64_t flops = fma_detail::kScalarFlops;
  if (cpu_isa() == Isa::avx512) {
    chains = fma_detail::fma_chains_avx512;
    flops = fma_detail::kAvx512Flops;
  } else if (cpu_isa() == Isa::avx2) {
    chains = fma_detail::fma_chains_avx2;
    flops = fma_detail::kAvx2Flops;
  }
  return best_gflops(chains, flops, threads, 0.05, 10);
}

}  // namespace ds
