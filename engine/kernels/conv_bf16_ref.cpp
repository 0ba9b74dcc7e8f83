// Reference twin of the bf16 convolution (conv_bf16.h): direct loops over the packed weights'
// bf16 values and the input rounded by to_bf16, exact products summed in double.
#include "engine/kernels/conv_bf16.h"

#include <algorithm>

#include "base/error.h"

namespace ds {

void conv2d_forward_bf16_ref(float* out, const float* in, const ConvBf16Weights& w, const ConvDims& d,
                             const ConvEpilogue& ep) {
  DS_CHECK(d.C == w.C && d.KH == w.KH && d.KW == w.KW && d.OC == w.OC,
           "conv2d_forward_bf16_ref: dims differ from the packed weights'");
  DS_CHECK(!ep.weight_scale, "conv2d_forward_bf16_ref: fold weight_scale into pack_conv_bf16");
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t oh = 0; oh < d.OH; ++oh)
      for (int64_t ow = 0; ow < d.OW; ++ow)
        for (int64_t oc = 0; oc < d.OC; ++oc) {
          double s = 0;
          for (int64_t kh = 0; kh < d.KH; ++kh) {
            const int64_t ih = oh * d.stride_h + kh - d.pad_h;
            if (ih < 0 || ih >= d.H) continue;
            for (int64_t kw = 0; kw < d.KW; ++kw) {
              const int64_t iw = ow * d.stride_w + kw - d.pad_w;
              if (iw < 0 || iw >= d.W) continue;
              const float* x = in + ((n * d.H + ih) * d.W + iw) * d.C;
              for (int64_t c = 0; c < d.C; ++c)
                s += (double)from_bf16(to_bf16(x[c])) * (double)from_bf16(w.at(kh, kw, c, oc));
            }
          }
          const int64_t o = ((n * d.OH + oh) * d.OW + ow) * d.OC + oc;
          float v = (float)s;
          if (ep.bias) v += ep.bias[oc];
          if (ep.residual) v += ep.residual[o];
          if (ep.relu) v = std::max(v, 0.0f);
          out[o] = v;
        }
}

}  // namespace ds
