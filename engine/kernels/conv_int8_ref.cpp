// Reference twin of the int8 convolution (conv_int8.h): direct loops over the packed int8
// weights and the input quantized by quantize_u8, products summed in int32, the tiles' epilogue.
#include <cmath>

#include "engine/kernels/conv_int8.h"

namespace ds {

void conv2d_forward_int8_ref(float* out, const float* in, const ConvInt8Weights& w, const ConvDims& d,
                             const ConvEpilogue& ep) {
  check_int8_dims(w, d, ep);
  lowp_conv_ref_loops<int32_t>(
      out, in, d, ep,
      [&](int32_t& s, const float* x, int64_t kh, int64_t kw, int64_t oc) {
        for (int64_t c = 0; c < d.C; ++c) s += (int32_t)quantize_u8(x[c], w.in_inv) * w.at(kh, kw, c, oc);
      },
      [&](int32_t s, int64_t oc) { return std::fma((float)s, w.out_scale[(size_t)oc], ep.bias ? ep.bias[oc] : 0.0f); });
}

}  // namespace ds
