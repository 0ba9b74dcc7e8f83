// Backward data of a 3x3 stride-1 convolution by Winograd F(4x4, 3x3) (conv_winograd.h): with
// y[h][w][oc] = sum x[h - p + kh][w - p + kw][c] g[kh][kw][c][oc], the input gradient is
// dx[h][w][c] = sum dy[h - (2 - p) + kh'][w - (2 - p) + kw'][oc] g[2 - kh'][2 - kw'][c][oc]:
// a forward 3x3 stride-1 convolution of dy, padding 2 - p, whose filters are the forward ones
// rotated 180 degrees with input and output channels swapped. The forward Winograd kernel runs
// it unchanged; its residual epilogue adds into an existing gradient.
#include <algorithm>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv_winograd.h"
#include "engine/kernels/layout.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threading.h"

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

namespace {

// w [3, 3, C, OC] rotated 180 degrees with C and OC swapped: [3, 3, OC, C] in scratch.
const float* rotated_filters(const float* w, int64_t C, int64_t OC) {
  float* rp = scratch(ScratchSlot::winograd_rotated, 9 * OC * C);  // g rotated, [kh'][kw'][oc][c]
  // Every training step does this for every such layer: blocked transposes (layout.h) of 64 input
  // channels per work item, in parallel (element by element on one thread it was ~3% of a
  // ResNet-18 training step).
  constexpr int64_t kRows = 64;
  const int64_t chunks = ceil_div(C, kRows);
#pragma omp parallel for schedule(static) if (use_threads(9 * C * OC, kMinParallelElements))
  for (int64_t it = 0; it < 9 * chunks; ++it) {
    const int64_t tap = it / chunks, c0 = it % chunks * kRows, rows = std::min(kRows, C - c0);
    const float* src = w + tap * C * OC + c0 * OC;
    float* dst = rp + (8 - tap) * OC * C + c0;  // (kh, kw) -> (2 - kh, 2 - kw): tap 8 - tap
    transpose_2d(dst, C, src, OC, rows, OC);
  }
  return rp;
}

}  // namespace

void pack_conv_winograd_backward_data_into(ConvWinogradWeights& p, const float* w, int64_t C, int64_t OC) {
  pack_conv_winograd_into(p, rotated_filters(w, C, OC), nullptr, OC, C);
}

void conv2d_backward_data_winograd(float* dx, const float* dy, const ConvWinogradWeights& wt, const ConvDims& d,
                                   bool set) {
  DS_CHECK(winograd_backward_data_applies(d) && wt.C == d.OC && wt.OC == d.C,
           "conv2d_backward_data_winograd: not a 3x3 stride-1 convolution of the packed weights' shape");
  ConvEpilogue ep;
  ep.residual = set ? nullptr : dx;  // each element read before it is written
  conv2d_forward_winograd(dx, dy, wt, winograd_backward_data_dims(d), ep);
}

void conv2d_backward_data_winograd_per_call(float* dx, const float* dy, const float* w, ConvWinogradWeights& buf,
                                            const ConvDims& d, bool set) {
  DS_CHECK(winograd_backward_data_applies(d), "conv2d_backward_data_winograd_per_call: not a 3x3 stride-1 convolution");
  ConvEpilogue ep;
  ep.residual = set ? nullptr : dx;  // each element read before it is written
  conv2d_forward_winograd_per_call(dx, dy, rotated_filters(w, d.C, d.OC), buf, winograd_backward_data_dims(d), ep);
}

}  // namespace ds
