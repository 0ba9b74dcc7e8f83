// 2-D convolution kernels (NCHW, float32, PyTorch semantics: cross-correlation, zero padding).
// The fast versions lower groups of images to one GEMM through im2col/col2im; the _ref twins are
// direct loops used as test oracles. Backward kernels accumulate (+=) into their outputs.
#pragma once
#include <cstdint>

namespace ds {

struct ConvDims {
  int64_t N = 0, C = 0, H = 0, W = 0;     // input
  int64_t OC = 0, KH = 0, KW = 0;         // weights [OC, C, KH, KW]
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t OH = 0, OW = 0;                 // output
};

// floor((in + 2 pad - k) / stride) + 1; callers check in + 2 pad >= k first.
inline int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return (in + 2 * pad - k) / stride + 1;
}

// Fills OH/OW from the other fields (square stride and padding).
ConvDims make_conv_dims(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH,
                        int64_t KW, int64_t stride, int64_t pad);

// out = conv(in, w) + b. b may be null.
void conv2d_forward(float* out,       // [N, OC, OH, OW]
                    const float* in,  // [N, C, H, W]
                    const float* w,   // [OC, C, KH, KW]
                    const float* b,   // [OC] or null
                    const ConvDims& d);

// d_in += conv_transpose(d_out, w). Accumulates.
void conv2d_backward_data(float* d_in,        // [N, C, H, W]
                          const float* d_out,  // [N, OC, OH, OW]
                          const float* w,      // [OC, C, KH, KW]
                          const ConvDims& d);

// d_w += sum over images of d_out (x) in; d_b += sum of d_out over N, OH, OW (d_b may be null).
// Accumulates.
void conv2d_backward_weights(float* d_w,          // [OC, C, KH, KW]
                             float* d_b,          // [OC] or null
                             const float* d_out,  // [N, OC, OH, OW]
                             const float* in,     // [N, C, H, W]
                             const ConvDims& d);

// Direct-loop twins with double accumulation (same contracts; backward ones accumulate).
void conv2d_forward_ref(float* out, const float* in, const float* w, const float* b,
                        const ConvDims& d);
void conv2d_backward_data_ref(float* d_in, const float* d_out, const float* w, const ConvDims& d);
void conv2d_backward_weights_ref(float* d_w, float* d_b, const float* d_out, const float* in,
                                 const ConvDims& d);

}  // namespace ds
