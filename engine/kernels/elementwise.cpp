// ReLU / add kernels (see elementwise.h): OpenMP-parallel, vectorizable loops.
#include "engine/kernels/elementwise.h"

namespace ds {

namespace {
constexpr int64_t kParallelMin = 1 << 15;  // below this, threads cost more than they save
}

void relu_forward(float* out, const float* in, int64_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = in[i] < 0.f ? 0.f : in[i];
}

void relu_backward(float* d_in, const float* d_out, const float* out, int64_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; ++i) d_in[i] += out[i] > 0.f ? d_out[i] : 0.f;
}

void add_forward(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void accumulate(float* dst, const float* src, int64_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace ds
