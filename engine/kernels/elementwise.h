// Elementwise kernels: ReLU and the residual add, forward and backward. Backward kernels
// accumulate (+=) into their outputs.
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

}  // namespace ds
