// ReLU / add / Adam kernels (see elementwise.h): OpenMP-parallel, vectorizable loops.
#include "engine/kernels/elementwise.h"

#include <cmath>

#include "engine/kernels/threading.h"

namespace ds {

void relu_forward(float* out, const float* in, int64_t n) {
#pragma omp parallel for simd if (use_threads(n, kMinParallelElements)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = in[i] < 0.f ? 0.f : in[i];
}

void relu_backward(float* d_in, const float* d_out, const float* out, int64_t n) {
#pragma omp parallel for simd if (use_threads(n, kMinParallelElements)) schedule(static)
  for (int64_t i = 0; i < n; ++i) d_in[i] += out[i] > 0.f ? d_out[i] : 0.f;
}

void add_forward(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd if (use_threads(n, kMinParallelElements)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void accumulate(float* dst, const float* src, int64_t n) {
#pragma omp parallel for simd if (use_threads(n, kMinParallelElements)) schedule(static)
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

void adam_update(float* p, float* m, float* v, const float* d_p, int64_t n, const AdamCoeffs& a) {
  // Elementwise, so splitting it over threads changes no result.
#pragma omp parallel for schedule(static) if (use_threads(n, kMinParallelElements))
  for (int64_t i = 0; i < n; ++i) {
    const float g = a.decay ? d_p[i] + a.weight_decay * p[i] : d_p[i];
    m[i] = m[i] * a.beta1 + a.one_minus_beta1 * g;
    v[i] = v[i] * a.beta2 + a.one_minus_beta2 * g * g;
    const float denom = std::sqrt(v[i]) / a.bc2_sqrt + a.eps;
    p[i] = p[i] + (-a.step_size) * m[i] / denom;
  }
}

}  // namespace ds
