// Reference twin of the bf16 convolution (conv_bf16.h): direct loops over the packed weights'
// bf16 values and the input rounded by to_bf16, exact products summed in double.
#include "engine/kernels/conv_bf16.h"

#include "base/error.h"

namespace ds {

void conv2d_forward_bf16_ref(float* out, const float* in, const ConvBf16Weights& w, const ConvDims& d,
                             const ConvEpilogue& ep) {
  DS_CHECK(d.C == w.C && d.KH == w.KH && d.KW == w.KW && d.OC == w.OC,
           "conv2d_forward_bf16_ref: dims differ from the packed weights'");
  DS_CHECK(!ep.weight_scale, "conv2d_forward_bf16_ref: fold weight_scale into pack_conv_bf16");
  lowp_conv_ref_loops<double>(
      out, in, d, ep,
      [&](double& s, const float* x, int64_t kh, int64_t kw, int64_t oc) {
        for (int64_t c = 0; c < d.C; ++c)
          s += (double)from_bf16(to_bf16(x[c])) * (double)from_bf16(w.at(kh, kw, c, oc));
      },
      [&](double s, int64_t oc, int64_t, int64_t) { return (float)s + (ep.bias ? ep.bias[oc] : 0.0f); });
}

}  // namespace ds
