// Elementwise kernels: ReLU and the residual add, forward and backward, and the Adam update, on
// flat float arrays of n elements (any layout: position i of every argument goes together).
// Plain loops, parallel over elements: their own reference (reference mode runs them on one
// thread). Backward kernels accumulate (+=) into their outputs.
#pragma once
#include <cstdint>

namespace ds {

// out = max(in, 0) (NaN stays NaN, as torch.relu).
void relu_forward(float* out,       // [n]
                  const float* in,  // [n]
                  int64_t n);
// d_in += d_out where out > 0 (out: the forward output). Accumulates.
void relu_backward(float* d_in,         // [n]
                   const float* d_out,  // [n]
                   const float* out,    // [n]
                   int64_t n);
// out = a + b.
void add_forward(float* out, const float* a, const float* b, int64_t n);  // [n] each
// dst += src. Accumulates.
void accumulate(float* dst, const float* src, int64_t n);  // [n] each

// One Adam step with coefficients already rounded to float as PyTorch rounds them:
// g = d_p (+ weight_decay * p); m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
// p += -step_size * m / (sqrt(v) / bc2_sqrt + eps).
struct AdamCoeffs {
  float step_size, bc2_sqrt, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay;
  bool decay;
};
// p, m (first moment) and v (second moment) are updated in place from the gradient d_p.
void adam_update(float* p,          // [n]
                 float* m,          // [n]
                 float* v,          // [n]
                 const float* d_p,  // [n]
                 int64_t n, const AdamCoeffs& a);

}  // namespace ds
