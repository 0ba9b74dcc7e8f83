// Direct-loop convolution twins (see conv.h): the definition the fast kernels are tested
// against, written for clarity, with double accumulation.
#include <algorithm>
#include <vector>

#include "engine/kernels/conv.h"
#include "engine/kernels/tile_sums.h"

namespace ds {

namespace {

// Index helpers for the NHWC tensors and the [KH, KW, C, OC] weights.
struct Idx {
  const ConvDims& d;
  int64_t in(int64_t n, int64_t h, int64_t w, int64_t c) const { return ((n * d.H + h) * d.W + w) * d.C + c; }
  int64_t out(int64_t n, int64_t h, int64_t w, int64_t oc) const { return ((n * d.OH + h) * d.OW + w) * d.OC + oc; }
  int64_t wt(int64_t oc, int64_t c, int64_t kh, int64_t kw) const { return ((kh * d.KW + kw) * d.C + c) * d.OC + oc; }
};

}  // namespace

void conv2d_forward_ref(float* out, const float* in, const float* w, const ConvDims& d, const ConvEpilogue& ep) {
  const Idx ix{d};
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t oh = 0; oh < d.OH; ++oh)
      for (int64_t ow = 0; ow < d.OW; ++ow)
        for (int64_t oc = 0; oc < d.OC; ++oc) {
          double s = 0;
          for (int64_t kh = 0; kh < d.KH; ++kh) {
            const int64_t ih = oh * d.stride_h - d.pad_h + kh;
            if (ih < 0 || ih >= d.H) continue;
            for (int64_t kw = 0; kw < d.KW; ++kw) {
              const int64_t iw = ow * d.stride_w - d.pad_w + kw;
              if (iw < 0 || iw >= d.W) continue;
              for (int64_t c = 0; c < d.C; ++c) {
                float wv = w[ix.wt(oc, c, kh, kw)];
                if (ep.weight_scale) wv *= ep.weight_scale[oc];
                s += (double)in[ix.in(n, ih, iw, c)] * wv;
              }
            }
          }
          float v = (float)s;
          if (ep.bias) v += ep.bias[oc];
          if (ep.residual) v += ep.residual[ix.out(n, oh, ow, oc)];
          if (ep.relu) v = v < 0 ? 0.f : v;
          out[ix.out(n, oh, ow, oc)] = v;
        }
  if (ep.channel_sums) channel_sums_exact(ep.channel_sums, out, d.N * d.OH * d.OW, d.OC);
}

void conv2d_backward_data_ref(float* d_in, const float* d_out, const float* w, const ConvDims& d, bool set) {
  const Idx ix{d};
  std::vector<double> acc((size_t)(d.N * d.H * d.W * d.C), 0.0);
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t oh = 0; oh < d.OH; ++oh)
      for (int64_t ow = 0; ow < d.OW; ++ow)
        for (int64_t kh = 0; kh < d.KH; ++kh) {
          const int64_t ih = oh * d.stride_h - d.pad_h + kh;
          if (ih < 0 || ih >= d.H) continue;
          for (int64_t kw = 0; kw < d.KW; ++kw) {
            const int64_t iw = ow * d.stride_w - d.pad_w + kw;
            if (iw < 0 || iw >= d.W) continue;
            for (int64_t c = 0; c < d.C; ++c)
              for (int64_t oc = 0; oc < d.OC; ++oc)
                acc[ix.in(n, ih, iw, c)] += (double)d_out[ix.out(n, oh, ow, oc)] * w[ix.wt(oc, c, kh, kw)];
          }
        }
  for (size_t i = 0; i < acc.size(); ++i) d_in[i] = (set ? 0.f : d_in[i]) + (float)acc[i];
}

void conv2d_backward_weights_ref(float* d_w, float* d_b, const float* d_out, const float* in, const ConvDims& d) {
  const Idx ix{d};
  for (int64_t oc = 0; oc < d.OC; ++oc) {
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t kh = 0; kh < d.KH; ++kh)
        for (int64_t kw = 0; kw < d.KW; ++kw) {
          double s = 0;
          for (int64_t n = 0; n < d.N; ++n)
            for (int64_t oh = 0; oh < d.OH; ++oh) {
              const int64_t ih = oh * d.stride_h - d.pad_h + kh;
              if (ih < 0 || ih >= d.H) continue;
              for (int64_t ow = 0; ow < d.OW; ++ow) {
                const int64_t iw = ow * d.stride_w - d.pad_w + kw;
                if (iw < 0 || iw >= d.W) continue;
                s += (double)d_out[ix.out(n, oh, ow, oc)] * in[ix.in(n, ih, iw, c)];
              }
            }
          d_w[ix.wt(oc, c, kh, kw)] += (float)s;
        }
    if (d_b) {
      double s = 0;
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t p = 0; p < d.OH * d.OW; ++p) s += d_out[(n * d.OH * d.OW + p) * d.OC + oc];
      d_b[oc] += (float)s;
    }
  }
}

}  // namespace ds
