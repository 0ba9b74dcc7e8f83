// Fully connected layer kernels (PyTorch nn.Linear: y = x W^T + b) on top of sgemm.
// Backward accumulates (+=) into its outputs.
#pragma once
#include <cstdint>

namespace ds {

void linear_forward(float* out,      // [N, OUT]
                    const float* in, // [N, IN]
                    const float* w,  // [OUT, IN]
                    const float* b,  // [OUT] or null
                    int64_t N, int64_t IN, int64_t OUT);

// d_in += d_out W; d_w += d_out^T in; d_b += column sums of d_out. Any output may be null
// (skipped). Accumulates.
void linear_backward(float* d_in,        // [N, IN] or null
                     float* d_w,         // [OUT, IN] or null
                     float* d_b,         // [OUT] or null
                     const float* d_out, // [N, OUT]
                     const float* in,    // [N, IN]
                     const float* w,     // [OUT, IN]
                     int64_t N, int64_t IN, int64_t OUT);

}  // namespace ds
