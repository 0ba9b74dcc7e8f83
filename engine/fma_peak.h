// This machine's measured single-precision FMA peak, the 100% that `deepslide bench --peak` and bench/ report
// GFLOP/s against: every thread runs a register-resident set of independent FMA chains (16 zmm
// on AVX-512, 12 ymm on AVX2, scalar otherwise; the path engine/cpu_features picks), enough to
// cover FMA latency times throughput on current x86 cores.
#pragma once
#include <cstdint>

namespace ds {

// GFLOP/s (an FMA counts as 2 flops) of `threads` OpenMP threads (<= 0: all cores) running the
// chains at once, best of 10 runs of ~0.05 s.
double measured_fma_peak_gflops(int threads);

// One thread's rate of bf16 dot products (AVX512-BF16 vdpbf16ps: per fp32 lane two products and
// their sums, 4 flops) over its rate of fp32 FMAs, in flops. Measured 0.49 on an Intel Xeon
// (family 6 model 207), where bf16 inference ran at half fp32's speed: Intel's bf16 pays on AMX
// tiles. Expected ~2 on AMD Zen 4 and 5, where bf16 inference ran 1.5-2x fp32 (the ratio itself
// not yet measured there). 0 without the bf16 kernels. Measured once per process (~0.1 s).
double measured_bf16_dot_ratio();

// The same for int8 dot products (AVX512-VNNI vpdpbusd: per int32 lane four byte products and
// their sums, 8 ops) against fp32 FMAs: the int8 tiles' ceiling over fp32's. Measured 4.1-4.2 on
// the Intel Xeon (family 6 model 207): vpdpbusd issues as fast as an FMA there. 0 without
// AVX512-VNNI. Measured once per process (~0.1 s).
double measured_int8_dot_ratio();

namespace fma_detail {
// One thread's chains for `iters` iterations; returns a value that depends on every FMA so the
// work cannot be dropped. Each iteration does k*_flops single-precision flops.
constexpr int64_t kAvx512Flops = 16 * 16 * 2;  // 16 zmm accumulators x 16 lanes x (mul + add)
constexpr int64_t kAvx2Flops = 12 * 8 * 2;     // 12 ymm accumulators x 8 lanes
constexpr int64_t kScalarFlops = 16 * 2;       // 16 scalar accumulators
constexpr int64_t kBf16Flops = 16 * 16 * 4;    // 16 zmm accumulators x 16 lanes x 2 products x (mul + add)
constexpr int64_t kInt8Ops = 16 * 16 * 8;      // 16 zmm accumulators x 16 lanes x 4 products x (mul + add)
float fma_chains_avx512(int64_t iters);
float fma_chains_avx2(int64_t iters);
float fma_chains_scalar(int64_t iters);
float bf16_chains_avx512bf16(int64_t iters);
float int8_chains_avx512vnni(int64_t iters);
}  // namespace fma_detail

}  // namespace ds
