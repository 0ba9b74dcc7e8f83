// Reference twin of the int8 convolution (conv_int8.h): direct loops over the packed int8
// weights and the input quantized by quantize_u8, products summed in int32, the tiles' epilogue.
#include <cmath>

#include "engine/kernels/conv_int8.h"

namespace ds {

void conv2d_forward_int8_ref(float* out, const float* in, const ConvInt8Weights& w, const ConvDims& d,
                             const ConvEpilogue& ep) {
  check_int8_dims(w, d, ep);
  // The sum over the taps inside the input and their weights' sum: the taps outside count as
  // code z, z * (w_sum - inside), as the tiles' padding does.
  struct Acc {
    int32_t s = 0, inside = 0;
  };
  lowp_conv_ref_loops<Acc>(
      out, in, d, ep,
      [&](Acc& a, const float* x, int64_t kh, int64_t kw, int64_t oc) {
        for (int64_t c = 0; c < d.C; ++c) {
          const int32_t q = w.at(kh, kw, c, oc);
          a.s += (int32_t)quantize_u8(x[c], w.in_inv, w.zero) * q;
          a.inside += q;
        }
      },
      [&](const Acc& a, int64_t oc) {
        const int32_t s = a.s + (int32_t)w.zero * (w.w_sum[(size_t)oc] - a.inside);
        return std::fma((float)s, w.out_scale[(size_t)oc], int8_bias(w, ep.bias, oc));
      });
}

}  // namespace ds
