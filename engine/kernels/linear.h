// Fully connected layer kernels (PyTorch nn.Linear: y = x W^T + b). A Linear layer is a 1x1
// convolution of N one-pixel images with IN channels, so the fast versions run the convolution
// kernels (conv.h, and through them the brgemm micro-kernels) on W transposed to their
// [C, OC] = [IN, OUT] layout; W itself stays in PyTorch's [OUT, IN]. The _ref twins are direct
// loops with double accumulation. Backward accumulates (+=) into its outputs.
#pragma once
#include <cstdint>

namespace ds {

void linear_forward(float* out,       // [N, OUT]
                    const float* in,  // [N, IN]
                    const float* w,   // [OUT, IN]
                    const float* b,   // [OUT] or null
                    int64_t N, int64_t IN, int64_t OUT);

// d_in += d_out W; d_w += d_out^T in; d_b += column sums of d_out. d_in and d_b may be null
// (skipped). Accumulates.
void linear_backward(float* d_in,         // [N, IN] or null
                     float* d_w,          // [OUT, IN]
                     float* d_b,          // [OUT] or null
                     const float* d_out,  // [N, OUT]
                     const float* in,     // [N, IN]
                     const float* w,      // [OUT, IN]
                     int64_t N, int64_t IN, int64_t OUT);

// Direct-loop twins with double accumulation (same contracts).
void linear_forward_ref(float* out, const float* in, const float* w, const float* b, int64_t N, int64_t IN,
                        int64_t OUT);
void linear_backward_ref(float* d_in, float* d_w, float* d_b, const float* d_out, const float* in, const float* w,
                         int64_t N, int64_t IN, int64_t OUT);

}  // namespace ds
