// Backward data of a 3x3 stride-1 convolution by Winograd F(4x4, 3x3) (conv_winograd.h): with
// y[h][w][oc] = sum x[h - p + kh][w - p + kw][c] g[kh][kw][c][oc], the input gradient is
// dx[h][w][c] = sum dy[h - (2 - p) + kh'][w - (2 - p) + kw'][oc] g[2 - kh'][2 - kw'][c][oc]:
// a forward 3x3 stride-1 convolution of dy, padding 2 - p, whose filters are the forward ones
// rotated 180 degrees with input and output channels swapped. The forward Winograd kernel runs
// it unchanged; its residual epilogue adds into an existing gradient.
#include "base/error.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv_winograd.h"
#include "engine/kernels/scratch.h"

namespace ds {

bool winograd_backward_data_applies(const ConvDims& d) {
  return winograd_applies(d) && d.pad_h == d.pad_w && d.pad_h <= 2;
}

ConvDims winograd_backward_data_dims(const ConvDims& d) {
  return make_conv_dims(d.N, d.OC, d.OH, d.OW, d.C, 3, 3, 1, 2 - d.pad_h);
}

bool use_winograd_backward_data(const ConvDims& d) {
  if (reference_kernels() || !winograd_backward_data_applies(d)) return false;
  const WinogradMode m = winograd_mode();
  // auto: the choice for the forward convolution the pass runs (tuned or the rule). Against the
  // direct backward-data kernel rather than the direct forward one, which it assumes runs at the
  // same speed: bench_conv's bwd_data and bwd_data_winograd figures (BENCHMARKS.md) check that.
  return m == WinogradMode::on || (m == WinogradMode::aut && winograd_pays(winograd_backward_data_dims(d)));
}

ConvWinogradWeights pack_conv_winograd_backward_data(const float* w, int64_t C, int64_t OC) {
  ConvWinogradWeights p;
  pack_conv_winograd_backward_data_into(p, w, C, OC);
  return p;
}

void pack_conv_winograd_backward_data_into(ConvWinogradWeights& p, const float* w, int64_t C, int64_t OC) {
  float* rp = scratch(ScratchSlot::winograd_rotated, 9 * OC * C);  // g rotated, [kh'][kw'][oc][c]
  for (int kh = 0; kh < 3; ++kh)
    for (int kw = 0; kw < 3; ++kw) {
      const float* src = w + (kh * 3 + kw) * C * OC;
      float* dst = rp + ((2 - kh) * 3 + (2 - kw)) * OC * C;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t oc = 0; oc < OC; ++oc) dst[oc * C + c] = src[c * OC + oc];
    }
  pack_conv_winograd_into(p, rp, nullptr, OC, C);
}

void conv2d_backward_data_winograd(float* dx, const float* dy, const ConvWinogradWeights& wt, const ConvDims& d,
                                   bool set) {
  DS_CHECK(winograd_backward_data_applies(d) && wt.C == d.OC && wt.OC == d.C,
           "conv2d_backward_data_winograd: not a 3x3 stride-1 convolution of the packed weights' shape");
  ConvEpilogue ep;
  ep.residual = set ? nullptr : dx;  // each element read before it is written
  conv2d_forward_winograd(dx, dy, wt, winograd_backward_data_dims(d), ep);
}

}  // namespace ds
