// Reference twin of the int8 convolution (conv_int8.h): direct loops over the packed int8
// weights and the input quantized by quantize_u8, products summed in int32, the tiles' epilogue.
#include <cmath>

#include "engine/kernels/conv_int8.h"

namespace ds {

void conv2d_forward_int8_ref(float* out, const float* in, const ConvInt8Weights& w, const ConvDims& d,
                             const ConvEpilogue& ep) {
  check_int8_dims(w, d, ep);
  // The sum over the taps inside the input and what their weights would have added as padding:
  // the taps outside count as code pad_c, pad_dot - inside_pad, as the tiles' padding does, and
  // the outputs next to the padding take their bias from the same table as the tiles.
  const LowpEdgeBias edge = w.exact_padding ? LowpEdgeBias{} : int8_edge_bias(w, d, ep.bias);
  struct Acc {
    int32_t s = 0, inside_pad = 0;
  };
  lowp_conv_ref_loops<Acc>(
      out, in, d, ep,
      [&](Acc& a, const float* x, int64_t kh, int64_t kw, int64_t oc) {
        for (int64_t c = 0; c < d.C; ++c) {
          const int32_t q = w.at(kh, kw, c, oc);
          a.s += (int32_t)quantize_u8(x[c], w.in_inv[(size_t)c], w.zero[(size_t)c]) * q;
          a.inside_pad += (int32_t)w.pad[(size_t)c] * q;
        }
      },
      [&](const Acc& a, int64_t oc, int64_t oh, int64_t ow) {
        const int32_t s = a.s + (w.pad_dot[(size_t)oc] - a.inside_pad);
        const float bias = w.exact_padding ? int8_bias(w, ep.bias, oc) : edge.at(oh, ow)[oc];
        return std::fma((float)s, w.out_scale[(size_t)oc], bias);
      });
}

}  // namespace ds
