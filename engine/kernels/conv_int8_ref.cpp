// Reference twin of the int8 convolution (conv_int8.h): direct loops over the packed int8
// weights and the input quantized by quantize_u8, products summed in int32, the tiles' epilogue.
#include <cmath>

#include "engine/kernels/conv_int8.h"

namespace ds {

void conv2d_forward_int8_ref(float* out, const float* in, const ConvInt8Weights& w, const ConvDims& d,
                             const ConvEpilogue& ep) {
  check_int8_dims(w, d, ep);
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t oh = 0; oh < d.OH; ++oh)
      for (int64_t ow = 0; ow < d.OW; ++ow)
        for (int64_t oc = 0; oc < d.OC; ++oc) {
          int32_t s = 0;
          for (int64_t kh = 0; kh < d.KH; ++kh) {
            const int64_t ih = oh * d.stride_h + kh - d.pad_h;
            if (ih < 0 || ih >= d.H) continue;
            for (int64_t kw = 0; kw < d.KW; ++kw) {
              const int64_t iw = ow * d.stride_w + kw - d.pad_w;
              if (iw < 0 || iw >= d.W) continue;
              const float* x = in + ((n * d.H + ih) * d.W + iw) * d.C;
              for (int64_t c = 0; c < d.C; ++c) s += (int32_t)quantize_u8(x[c], w.in_inv) * w.at(kh, kw, c, oc);
            }
          }
          const int64_t o = ((n * d.OH + oh) * d.OW + ow) * d.OC + oc;
          float v = std::fma((float)s, w.out_scale[(size_t)oc], ep.bias ? ep.bias[oc] : 0.0f);
          if (ep.residual) v += ep.residual[o];
          if (ep.relu) v = v > 0.0f ? v : 0.0f;  // as the tiles: NaN -> 0
          out[o] = v;
        }
}

}  // namespace ds
