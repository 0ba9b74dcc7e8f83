// Winograd F(4x4, 3x3) inference convolution (Lavin & Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2016) for stride-1 3x3 convolutions on channels-last fp32 activations: each
// 4x4 block of output pixels ("tile") is computed from the 6x6 input patch under it with 36
// multiplications per (input, output) channel pair instead of 144, so such a layer does 4x fewer
// multiply-adds (fewer where 4 does not divide the output side: layer4's 7x7 runs 8x8).
//
// The algorithm, per tile and channel pair (d the 6x6 input patch, g the 3x3 filter):
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A          (.) element-wise, Y the 4x4 outputs
// summed over input channels before A^T . A, so the element-wise products of all tiles become
// 36 GEMMs, one per position xi of the 6x6 transformed tile:
//   M[xi][tile][oc] = sum_c V[xi][tile][c] * U[xi][c][oc],  V = B^T d B,  U = G g G^T.
// The matrices come from the Cook-Toom construction on the interpolation points 0, 1, -1, 2, -2
// and infinity: a 1-D F(4, 3) is the product of a degree-3 and a degree-2 polynomial (6
// coefficients) evaluated at 6 points, multiplied pointwise and interpolated back (A^T the
// evaluation of the output at the points, G of the filter, B^T the inverse Vandermonde of the
// input side); nesting it in rows and columns gives the 2-D form. See kWinoBT, kWinoG, kWinoAT.
//
// Rounding: the transforms multiply by up to 8 (A^T) and 5 (B^T) and sum with cancellation, so
// results differ from the direct convolution by more than its own rounding: measured on
// ResNet-18's 3x3 layers at random weights, max |error| / max |output| of order 1e-5 (tests and
// BENCHMARKS.md, "Winograd"). F(6x6, 3x3) would save more multiplications, but it needs the
// points +-1/2 too and its fp32 error is reported an order of magnitude larger (Barabasz et al.,
// "Error analysis and improving the accuracy of Winograd convolution", 2020); not implemented.
//
// The fast path (conv2d_forward_winograd) works on blocks of tiles, each run by one thread in
// three passes: the input transform fused into the gather of each tile's 6x6 patch (zeros
// outside the image, no padded copy), the 36 GEMMs on the brgemm rows micro-kernel (brgemm.h),
// and the output transform fused with the epilogue (+ bias, + residual, ReLU) as the 4x4 pixels
// are stored. The filter transform is done once per model (pack_conv_winograd; layers cache it
// with the folded BatchNorm). Each output is computed in an order that depends on the shapes
// only, so results do not depend on the thread count. The _ref twin runs the same algorithm in
// plain loops in double.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/cpu_features.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/prefetch.h"
#include "engine/kernels/threading.h"
#include "engine/tensor.h"

namespace ds {

// B^T (6x6): the input transform V = B^T d B.
constexpr double kWinoBT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                  {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
// G (6x3): the filter transform U = G g G^T.
constexpr double kWinoG[6][3] = {{1.0 / 4, 0, 0},
                                 {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                 {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                 {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                 {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                 {0, 0, 1}};
// A^T (4x6): the output transform Y = A^T M A.
constexpr double kWinoAT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

// A convolution's filters transformed: U[xi][c][oc] = (G g G^T)[xi] * scale[oc], oc < OC, zeros
// up to ldo (OC rounded up to 16 floats, so every ISA's tiles read whole vectors).
struct ConvWinogradWeights {
  int64_t C = 0, OC = 0, ldo = 0;
  Tensor U;  // [36, C, ldo]
};

// w [3, 3, C, OC] (the layers' layout), times scale[oc] (null: 1), transformed in double.
ConvWinogradWeights pack_conv_winograd(const float* w, const float* scale, int64_t C, int64_t OC);
// The same into p, reusing its U when p already holds a transform of that C and OC (training
// transforms every step: a fresh U, 38 MB at 512 channels, would be page-faulted in each time).
void pack_conv_winograd_into(ConvWinogradWeights& p, const float* w, const float* scale, int64_t C, int64_t OC);

// d is a convolution F(4x4, 3x3) computes: 3x3 kernel, stride 1 (any padding).
bool winograd_applies(const ConvDims& d);

// Which convolutions the layers run by Winograd (`--conv-algo`, else DEEPSLIDE_WINOGRAD):
// "direct" (or 0) none, "winograd" (or 1) every one that applies, "auto" (the default) those
// winograd_pays() picks. Never in reference mode (DEEPSLIDE_ISA=ref keeps the direct convolution).
enum class WinogradMode { off = 0, on = 1, aut = 2 };
WinogradMode winograd_mode();
void force_winograd_mode(WinogradMode m);  // --conv-algo, tests, benchmarks: overrides the environment
// "auto", "direct" or "winograd" (0 and 1 too, as DEEPSLIDE_WINOGRAD takes them); InputError
// naming `where` otherwise.
WinogradMode parse_conv_algo(const std::string& value, const std::string& where);
const char* conv_algo_name(WinogradMode m);  // "direct", "winograd", "auto"
// auto mode's per-layer choice: what this CPU's tuning file measured for the shape
// (tuned_winograd, conv_tuning.h), else winograd_rule.
bool winograd_pays(const ConvDims& d);
bool winograd_rule(const ConvDims& d);  // the fixed rule, from bench_conv's figures (conv_winograd.cpp)
bool use_winograd(const ConvDims& d);   // applies, mode, not reference mode
// What decides the algorithms, for result keys (Winograd rounds differently): "off" (direct),
// "on" (winograd) or "auto", and in auto mode with measured choices loaded, a fingerprint of
// them ("auto+tuned:<hex>"); the mode carries "+1x1:rows" under DEEPSLIDE_CONV_1X1=rows.
std::string conv_algo_key();

// out = epilogue(conv(in, w)) with ep.weight_scale null (fold the scale into the packing): +
// bias[oc], + residual, max(., 0). d must satisfy winograd_applies and match w's C and OC. In
// reference mode it runs the _ref twin.
void conv2d_forward_winograd(float* out,       // [N, OH, OW, OC]
                             const float* in,  // [N, H, W, C]
                             const ConvWinogradWeights& w, const ConvDims& d, const ConvEpilogue& ep = {});
// The same for training, where the filters change every call: w [3, 3, C, OC] untransformed. When
// one block of tiles covers the batch (each transformed filter is then read once: layer4 of
// ResNet-18 at batch 16), each work item transforms its own output channels' part of U, six
// positions at a time, just before their GEMMs, in L2: U (37.7 MB on layer4) is never written
// out whole. Otherwise w is transformed into buf (pack_conv_winograd_into) and run as above. The
// results are the same bit for bit either way.
void conv2d_forward_winograd_per_call(float* out, const float* in, const float* w, ConvWinogradWeights& buf,
                                      const ConvDims& d, const ConvEpilogue& ep = {});
// Whether it transforms inside the work items (one block of tiles; not in reference mode).
bool winograd_per_call_fuses(const ConvDims& d);

// Backward data by Winograd (conv_winograd_backward.cpp): dx of a 3x3 stride-1 convolution with
// equal padding p <= 2 is the forward convolution of dy (padding 2 - p) with each filter rotated
// 180 degrees and C, OC swapped. pack_conv_winograd_backward_data transforms w [3, 3, C, OC] so;
// conv2d_backward_data_winograd adds to dx or, with set, writes it, as conv2d_backward_data.
bool winograd_backward_data_applies(const ConvDims& d);
ConvDims winograd_backward_data_dims(const ConvDims& d);  // the forward convolution it runs
// Applies, not reference mode, and the mode: winograd every time, auto where winograd_pays() picks
// the forward convolution it runs.
bool use_winograd_backward_data(const ConvDims& d);
ConvWinogradWeights pack_conv_winograd_backward_data(const float* w, int64_t C, int64_t OC);
void pack_conv_winograd_backward_data_into(ConvWinogradWeights& p, const float* w, int64_t C, int64_t OC);
void conv2d_backward_data_winograd(float* dx,        // [N, H, W, C]
                                   const float* dy,  // [N, OH, OW, OC]
                                   const ConvWinogradWeights& wt, const ConvDims& d, bool set);
// The same from w [3, 3, C, OC] as it is, through conv2d_forward_winograd_per_call (buf as there).
void conv2d_backward_data_winograd_per_call(float* dx, const float* dy, const float* w, ConvWinogradWeights& buf,
                                            const ConvDims& d, bool set);

// Backward weights by Winograd (conv_winograd_wgrad.cpp). Per tile the forward is linear in
// U = G g G^T, Y = A^T [U (.) V] A, so dL/dU = V (.) (A dY A^T) summed over the tiles and
// dL/dg = G^T (dL/dU) G. Per position xi of the 6x6 transformed tile that is a GEMM reduced over
// the tiles: dU[xi][c][oc] = sum_t V[xi][t][c] * Z[xi][t][oc], V = B^T d B the forward's input
// transform, Z = A dY A^T the output gradient's 4x4 tile taken to 6x6 (the output transform's
// adjoint): 36 multiply-adds per tile and channel pair against the direct pass's 144 (fewer
// saved where 4 does not divide the output side). Results are rounded differently from the
// direct pass (dU's terms are larger than the gradient they cancel to): tested against float64.
bool winograd_backward_weights_applies(const ConvDims& d);  // winograd_applies
// Applies, not reference mode, and the mode: winograd every time, auto what `deepslide tune`
// measured for the shape (tuned_winograd, WinogradPass::wgrad), else winograd_backward_weights_rule.
bool use_winograd_backward_weights(const ConvDims& d);
bool winograd_backward_weights_rule(const ConvDims& d);  // from bench_conv's bwd_weights_winograd figures
// d_w [3, 3, C, OC] += the weight gradient of dy [N, OH, OW, OC] and in [N, H, W, C]; d_b (may be
// null) += dy's channel sums, as conv2d_backward_weights.
void conv2d_backward_weights_winograd(float* d_w, float* d_b, const float* d_out, const float* in, const ConvDims& d);
// Tests: the whole-batch way's V and Z are made in ranges of at most `bytes` (64 MB; 0 restores).
void set_winograd_wgrad_range_bytes(int64_t bytes);
// The same algorithm in plain loops in double (d_w += only; no bias).
void conv2d_backward_weights_winograd_ref(float* d_w, const float* d_out, const float* in, const ConvDims& d);

// The same algorithm in plain loops: V, the products and Y in double, the epilogue in fp32.
void conv2d_forward_winograd_ref(float* out, const float* in, const ConvWinogradWeights& w, const ConvDims& d,
                                 const ConvEpilogue& ep = {});

// What the F(4x4) and the bf16 F(2x2) kernels (conv_winograd_bf16.h) share, written once over the
// tile size: A x A transformed positions per tile of Mo x Mo outputs (6 and 4, or 4 and 2).
//
// The filter transform U = G g G^T of input channel c of w [3, 3, C, OC], times scale[oc] (null:
// 1), in double, rounded to float, for output channels [oc0, oc1) and rows a in [a0, a1) of the
// A x A positions: store_row(xi, row) with xi = a * A + b and row[oc - oc0] the values (a buffer
// of oc1 - oc0 floats, reused). gg: scratch of 3 * A * (oc1 - oc0) doubles. The output channels
// are innermost (contiguous in w: the compiler vectorises them); each value is the same sum in
// the same order as the per-filter formula, whatever the ranges, so a block of U transformed on
// its own equals the same block of the whole transform, and, products and sums never fused into
// FMAs (the per-ISA files allow them elsewhere), the same on every ISA.
template <int A, class StoreRow>
__attribute__((optimize("fp-contract=off"))) void winograd_filter_channel(const double (&G)[A][3], const float* w,
                                                                          const float* scale, int64_t C, int64_t OC,
                                                                          int64_t c, int64_t oc0, int64_t oc1, int a0,
                                                                          int a1, double* gg, float* row,
                                                                          StoreRow store_row) {
  const int64_t n = oc1 - oc0;
  const float* g[3][3];  // the filter taps' rows of output channels oc0..oc1
  for (int kh = 0; kh < 3; ++kh)
    for (int kw = 0; kw < 3; ++kw) g[kh][kw] = w + ((kh * 3 + kw) * C + c) * OC + oc0;
  for (int a = a0; a < a1; ++a)
    for (int kw = 0; kw < 3; ++kw) {
      double* r = gg + (a * 3 + kw) * n;
      for (int64_t j = 0; j < n; ++j) r[j] = G[a][0] * g[0][kw][j] + G[a][1] * g[1][kw][j] + G[a][2] * g[2][kw][j];
    }
  for (int a = a0; a < a1; ++a)
    for (int b = 0; b < A; ++b) {
      const double* r = gg + a * 3 * n;
      for (int64_t j = 0; j < n; ++j) {
        const double v = r[j] * G[b][0] + r[n + j] * G[b][1] + r[2 * n + j] * G[b][2];
        row[j] = (float)(v * (scale ? (double)scale[oc0 + j] : 1.0));
      }
      store_row(a * A + b, (const float*)row);
    }
}

// The whole transform: store(xi, c, oc, u) for every position, input and output channel. In
// parallel over input channels.
template <int A, class Store>
void winograd_filter_transform(const double (&G)[A][3], const float* w, const float* scale, int64_t C, int64_t OC,
                               Store store) {
#pragma omp parallel if (use_threads(10.0 * A * A * (double)C * (double)OC, kMinParallelFlops))
  {
    std::vector<double> gg((size_t)(3 * A * OC));
    std::vector<float> row((size_t)OC);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; ++c)
      winograd_filter_channel(G, w, scale, C, OC, c, 0, OC, 0, A, gg.data(), row.data(), [&](int xi, const float* r) {
        for (int64_t oc = 0; oc < OC; ++oc) store(xi, c, oc, r[oc]);
      });
  }
}

// Tile t's A x A input pixels (null outside the image), tiles TH x TW per image.
template <int A, int Mo>
void winograd_tile_pixels(const ConvDims& d, int64_t TH, int64_t TW, int64_t t, const float* in, const float** pix) {
  const int64_t n = t / (TH * TW), th = t / TW % TH, tw = t % TW;
  for (int i = 0; i < A; ++i)
    for (int j = 0; j < A; ++j) {
      const int64_t ih = th * Mo - d.pad_h + i, iw = tw * Mo - d.pad_w + j;
      const bool inside = ih >= 0 && ih < d.H && iw >= 0 && iw < d.W;
      pix[i * A + j] = inside ? in + ((n * d.H + ih) * d.W + iw) * d.C : nullptr;
    }
}
// Its Mo x Mo output and residual pixels from channel oc0 (null outside the output; res null: all null).
template <int Mo>
void winograd_tile_outputs(const ConvDims& d, int64_t TH, int64_t TW, int64_t t, float* out, const float* res,
                           int64_t oc0, float** o, const float** r) {
  const int64_t n = t / (TH * TW), th = t / TW % TH, tw = t % TW;
  for (int i = 0; i < Mo; ++i)
    for (int j = 0; j < Mo; ++j) {
      const int64_t oh = th * Mo + i, ow = tw * Mo + j, p = ((n * d.OH + oh) * d.OW + ow) * d.OC + oc0;
      const bool inside = oh < d.OH && ow < d.OW;
      o[i * Mo + j] = inside ? out + p : nullptr;
      r[i * Mo + j] = inside && res ? res + p : nullptr;
    }
}

// The passes over a block's tiles ask for the next tile's lines while one is transformed: the
// input, output and residual are far larger than the caches, and waiting for them was most of
// the transforms' time (fp32 F(4x4) on ResNet-18's layer1 at batch 16 on Zen 5: ~3/4 of the input
// pass on one load; with these, that layer's convolutions took 0.85x the time). One tile ahead
// measured as well as two or four.
// Of a tile's input pixels pix (winograd_tile_pixels), those from column A - Mo on (the ones the
// tile before it on its row does not read), C channels each.
template <int A, int Mo>
void winograd_prefetch_pixels(const float* const* pix, int64_t C) {
  for (int i = 0; i < A; ++i)
    for (int j = A - Mo; j < A; ++j)
      if (const float* p = pix[i * A + j])
        for (int64_t c = 0; c < C; c += 16) prefetch_line(p + c);
}
// A tile's output pixels o and residual pixels r (winograd_tile_outputs), n channels each.
template <int Mo>
void winograd_prefetch_outputs(float* const* o, const float* const* r, int64_t n) {
  for (int p = 0; p < Mo * Mo; ++p)
    for (int64_t c = 0; c < n; c += 16) {
      if (o[p]) prefetch_line(o[p] + c);
      if (r[p]) prefetch_line(r[p] + c);
    }
}

// One ISA's transforms (conv_winograd_tiles.inc), vectorised over channels.
struct WinogradKernels {
  // V[xi * ldv + c] = (B^T d B)[xi] for c < C, d[i][j] the C floats at pix[i*6 + j] (null: zeros).
  void (*input)(float* V, int64_t ldv, const float* const* pix, int64_t C);
  // For the 16 outputs p = i*4 + j of a tile with out[p] set: out[p][oc] = relu?((A^T M A)[p][oc]
  // + bias[oc] + res[p][oc]) for oc < OC, M[xi][oc] at M + xi * ldm (readable to whole vectors
  // up to OC rounded up to 16); bias and res may be null (res[p] null where out[p] is). With
  // sums, the tile's channel sums of the stored values (tile_sums.h): sums[oc], sums[ld_sums + oc].
  void (*output)(float* const* out, const float* M, int64_t ldm, int64_t OC, const float* bias, const float* const* res,
                 bool relu, double* sums, int64_t ld_sums);
  // U[(xi * C + c) * ldo + oc] = (G g G^T)[xi] * scale[oc] of w [3, 3, C, OC]
  // (winograd_filter_transform): the same template, vectorised to the ISA's width. Training
  // redoes it every call; on SSE2's two doubles per vector it took ~6% of a training step.
  void (*filter)(float* U, int64_t ldo, const float* w, const float* scale, int64_t C, int64_t OC);
  // Row a of positions (xi = a * 6 + b, b < 6) of the same transform (no scale), output channels
  // [oc0, oc1) only: U[b * ldx + c * ld + oc - oc0], on the calling thread. What a work item of
  // conv2d_forward_winograd_per_call transforms just before its GEMMs; equal to the same values
  // of filter's.
  void (*filter_rows)(float* U, int64_t ld, int64_t ldx, const float* w, int64_t C, int64_t OC, int a, int64_t oc0,
                      int64_t oc1);
  // Backward weights: Z[xi * ldz + oc] = (A dY A^T)[xi] for oc < OC rounded up to the vector
  // width (zeros past OC), dY[i][j] the OC floats at dy[i*4 + j] (null: zeros, outside the output).
  void (*grad)(float* Z, int64_t ldz, const float* const* dy, int64_t OC);
  // One input channel's filter gradient from its 36 positions: dw[(kh*3 + kw) * ld_tap + oc] +=
  // (G^T dU G)[kh][kw] for oc < OC, position xi of dU at dU + xi * ldu (whole vectors readable).
  void (*wgrad_out)(float* dw, int64_t ld_tap, const float* dU, int64_t ldu, int64_t OC);
};
const WinogradKernels& winograd_kernels(Isa isa);
const WinogradKernels& winograd_kernels_avx512();
const WinogradKernels& winograd_kernels_avx2();
const WinogradKernels& winograd_kernels_generic();

}  // namespace ds
