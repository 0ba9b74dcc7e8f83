// Reference twin of the bf16 Winograd convolution (conv_winograd_bf16.h): plain loops per tile,
// output channel and position, V by the shared fp32 additions and to_bf16, the exact products of
// the bf16 values summed in double, the output transform in double, the epilogue in fp32.
#include <vector>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/kernels/conv_winograd.h"
#include "engine/kernels/conv_winograd_bf16.h"

namespace ds {

void conv2d_forward_winograd_bf16_ref(float* out, const float* in, const ConvWinogradBf16Weights& w, const ConvDims& d,
                                      const ConvEpilogue& ep) {
  DS_CHECK(winograd_applies(d) && w.C == d.C && w.OC == d.OC && !ep.weight_scale && !ep.max_pool && !ep.channel_sums,
           "conv2d_forward_winograd_bf16_ref: not a 3x3 stride-1 convolution of the packed weights' shape");
  const int64_t TH = ceil_div(d.OH, 2), TW = ceil_div(d.OW, 2);
  std::vector<double> V((size_t)(16 * d.C));  // one tile's V[xi][c], as bf16 values
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t th = 0; th < TH; ++th)
      for (int64_t tw = 0; tw < TW; ++tw) {
        for (int64_t c = 0; c < d.C; ++c) {
          float patch[16], v[16];
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
              const int64_t ih = th * 2 - d.pad_h + i, iw = tw * 2 - d.pad_w + j;
              const bool inside = ih >= 0 && ih < d.H && iw >= 0 && iw < d.W;
              patch[i * 4 + j] = inside ? in[((n * d.H + ih) * d.W + iw) * d.C + c] : 0.0f;
            }
          winograd_bf16_input_transform(patch, v);
          for (int xi = 0; xi < 16; ++xi) V[(size_t)(xi * d.C + c)] = from_bf16(to_bf16(v[xi]));
        }
        for (int64_t oc = 0; oc < d.OC; ++oc) {
          double m[16], y[4];
          for (int xi = 0; xi < 16; ++xi) {
            double s = 0;
            for (int64_t c = 0; c < d.C; ++c) s += V[(size_t)(xi * d.C + c)] * (double)from_bf16(w.at(xi, c, oc));
            m[xi] = s;
          }
          winograd_bf16_output_transform(m, y);
          for (int p = 0; p < 4; ++p) {
            const int64_t oh = th * 2 + p / 2, ow = tw * 2 + p % 2;
            if (oh >= d.OH || ow >= d.OW) continue;
            const int64_t o = ((n * d.OH + oh) * d.OW + ow) * d.OC + oc;
            float x = (float)y[p] + (ep.bias ? ep.bias[oc] : 0.0f);
            if (ep.residual) x += ep.residual[o];
            out[o] = x > 0.0f || !ep.relu ? x : 0.0f;
          }
        }
      }
}

}  // namespace ds
