// Winograd F(2x2, 3x3) for the bf16 inference convolutions (conv_bf16.h): stride-1 3x3
// convolutions with 16 multiplications per 2x2 block of outputs and channel pair instead of 36,
// 2.25x fewer, the products in bf16 (vdpbf16ps or AMX-BF16 tiles) summed in fp32.
//
// Why F(2x2) and not the fp32 path's F(4x4) (conv_winograd.h): bf16 keeps 8 significant bits, and
// the transforms' cancellation amplifies the rounding of V and U. Simulated in float64 on
// ResNet-18's 3x3 shapes (He weights, post-ReLU inputs; BENCHMARKS.md, "bf16 Winograd"), the rms
// error of one layer relative to its output: direct bf16 0.23%, F(2x2) 0.35%, F(3x3) 1.1%,
// F(4x4) 2.0% (1.3% on the best other points). Only F(2x2) stays near direct's rounding.
//
// The algorithm, per 2x2 output tile and channel pair (d the 4x4 input patch under it, g the 3x3
// filter), from Lavin & Gray 2016 on the interpolation points 0, 1, -1 and infinity:
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A,  summed over input channels before A^T . A,
// so the products become 16 GEMMs, one per position xi of the 4x4 transformed tile:
//   M[xi][tile][oc] = sum_c V[xi][tile][c] * U[xi][c][oc],  V = bf16(B^T d B),  U = bf16(G g G^T).
// B^T and A^T hold only 0 and +-1: the input and output transforms are additions, done in fp32 in
// a fixed order (winograd_bf16_input_transform and _output_transform below, tested against kWino2BT and
// kWino2AT; the _ref twin does the same additions, so V is bit for bit the same but for values
// below 2^-126, which the AVX-512 rounding flushes to 0), and G's halves are exact. The filter transform runs once per
// model (in double, with the folded BatchNorm scale, then rounded to bf16), packed per position as a 1x1 convolution's
// bf16 weights (LowpPacking, KH = KW = 1), so the GEMMs are the bf16 tiles' own, with no epilogue.
//
// The driver works on blocks of tiles, each run by one thread: the input transform (zeros outside
// the image, channels padded to even), rounded to bf16 into V [16][Tb][ldv]; the 16 GEMMs into M
// [16][Tb][ldm] fp32; the output transform with the epilogue (+ bias, + residual, ReLU) as the 2x2
// pixels are stored. As conv_winograd.h, each output's arithmetic depends on the shapes only, so
// results do not depend on the thread count.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/kernels/conv.h"
#include "engine/kernels/conv_bf16.h"

namespace ds {

// B^T (4x4): V = B^T d B.
constexpr int kWino2BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
// G (4x3): U = G g G^T.
constexpr double kWino2G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
// A^T (2x4): Y = A^T M A.
constexpr int kWino2AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

// The transformed filters in bf16: position xi's U[xi] packed as the bf16 weights of a 1x1
// convolution (C -> OC), the 16 one after another: packed[xi * size() + index(0, 0, c, oc)].
struct ConvWinogradBf16Weights : LowpPacking {  // KH = KW = 1, group 2
  std::vector<uint16_t> packed;                 // [16][nb][kg][NV * 16][2]
  uint16_t at(int xi, int64_t c, int64_t oc) const { return packed[(size_t)(xi * size() + index(0, 0, c, oc))]; }
};

// w [3, 3, C, OC] fp32 (the layers' layout), times scale[oc] (null: 1), transformed in double and
// rounded to bf16.
ConvWinogradBf16Weights pack_conv_winograd_bf16(const float* w, const float* scale, int64_t C, int64_t OC);

// Whether conv_bn_eval runs d by bf16 Winograd: a 3x3 stride-1 convolution (winograd_applies),
// the bf16 tiles present, not reference mode, and the --conv-algo mode: "winograd" every one,
// "auto" what `deepslide tune` measured for the shape (tuned_winograd, conv_tuning.h), else
// those winograd_bf16_rule picks, "direct" none.
bool use_winograd_bf16(const ConvDims& d);
bool winograd_bf16_rule(const ConvDims& d);  // from bench_conv's fwd_bf16 and fwd_bf16_winograd figures

// out = epilogue(conv(in, w)) as conv2d_forward_bf16 (ep.weight_scale and ep.max_pool unset; ep.residual may be out).
// Runs the AMX-BF16 tiles when has_amx_bf16_kernels(), else AVX512-BF16's, else the reference twin.
void conv2d_forward_winograd_bf16(float* out,       // [N, OH, OW, OC]
                                  const float* in,  // [N, H, W, C]
                                  const ConvWinogradBf16Weights& w, const ConvDims& d, const ConvEpilogue& ep = {});
// The same on the given bf16 tiles (tests run each instance; the transforms need AVX512-BF16).
void conv2d_forward_winograd_bf16_on(const ConvBf16Kernels& k, float* out, const float* in,
                                     const ConvWinogradBf16Weights& w, const ConvDims& d, const ConvEpilogue& ep = {});

// The twin: V by the same fp32 additions, rounded by to_bf16; the products summed in double, the
// output transform in double, then the epilogue in fp32.
void conv2d_forward_winograd_bf16_ref(float* out, const float* in, const ConvWinogradBf16Weights& w, const ConvDims& d,
                                      const ConvEpilogue& ep = {});

// V[xi] for one tile and channel, in the fixed order the instance and the twin share: columns
// (t = B^T d), then rows (t B). d[i * 4 + j] the patch's values.
template <class T>
inline void winograd_bf16_input_transform(const T* d, T* v) {
  T t[16];
  for (int j = 0; j < 4; ++j) {
    const T d0 = d[j], d1 = d[4 + j], d2 = d[8 + j], d3 = d[12 + j];
    t[j] = d0 - d2, t[4 + j] = d1 + d2, t[8 + j] = d2 - d1, t[12 + j] = d1 - d3;
  }
  for (int i = 0; i < 4; ++i) {
    const T* r = t + i * 4;
    v[i * 4] = r[0] - r[2], v[i * 4 + 1] = r[1] + r[2], v[i * 4 + 2] = r[2] - r[1], v[i * 4 + 3] = r[1] - r[3];
  }
}

// Y = A^T M A for one tile and channel: m[xi] the 16 sums, y[i * 2 + j] the 2x2 outputs.
template <class T>
inline void winograd_bf16_output_transform(const T* m, T* y) {
  T t[8];  // A^T m: 2 x 4
  for (int j = 0; j < 4; ++j) {
    t[j] = m[j] + m[4 + j] + m[8 + j];
    t[4 + j] = m[4 + j] - m[8 + j] - m[12 + j];
  }
  for (int i = 0; i < 2; ++i) {
    const T* r = t + i * 4;
    y[i * 2] = r[0] + r[1] + r[2];
    y[i * 2 + 1] = r[1] - r[2] - r[3];
  }
}

// The transforms vectorised over channels, on AVX-512 (conv_winograd_bf16_avx512bf16.cpp).
struct WinogradBf16Transforms {
  // V[xi * ldv + c] = to_bf16((B^T d B)[xi]) for c < C, 0 for C <= c < Cp; d[i][j] the C floats
  // at pix[i * 4 + j] (null: zeros).
  void (*input)(uint16_t* V, int64_t ldv, const float* const* pix, int64_t C, int64_t Cp);
  // For the 4 outputs p = i * 2 + j with out[p] set: out[p][oc] = relu?((A^T M A)[p][oc] + bias[oc]
  // + res[p][oc]) for oc < OC, M[xi][oc] at M + xi * ldm; bias, res may be null.
  void (*output)(float* const* out, const float* M, int64_t ldm, int64_t OC, const float* bias, const float* const* res,
                 bool relu);
};
const WinogradBf16Transforms& winograd_bf16_transforms_avx512bf16();

}  // namespace ds
