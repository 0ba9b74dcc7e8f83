// Elementwise kernels: ReLU and the residual add, forward and backward, and the Adam update.
// Backward kernels accumulate (+=) into their outputs.
#pragma once
#include <cstdint>

namespace ds {

// out = max(in, 0) (NaN stays NaN, as torch.relu).
void relu_forward(float* out, const float* in, int64_t n);  // [n], [n]
// d_in += d_out where out > 0. Accumulates.
void relu_backward(float* d_in, const float* d_out, const float* out, int64_t n);  // [n] each
// out = a + b.
void add_forward(float* out, const float* a, const float* b, int64_t n);  // [n] each
// dst += src. Accumulates.
void accumulate(float* dst, const float* src, int64_t n);  // [n], [n]

// One Adam step with coefficients already rounded to float as PyTorch rounds them:
// g = d_p (+ weight_decay * p); m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
// p += -step_size * m / (sqrt(v) / bc2_sqrt + eps).
struct AdamCoeffs {
  float step_size, bc2_sqrt, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay;
  bool decay;
};
void adam_update(float* p, float* m, float* v, const float* d_p, int64_t n, const AdamCoeffs& a);

}  // namespace ds
