// int8 inference convolution for `--precision int8` (issue 20): channels-last fp32 activations in
// and out, unsigned 8-bit activations times signed 8-bit weights summed exactly in int32
// (AVX512-VNNI's vpdpbusd), then scaled back to fp32 in the epilogue. Inference only.
//
// Quantization:
//   weights  per output channel: s_w[oc] = max_k |w[k, oc] * scale[oc]| / 127 (scale: a folded
//            BatchNorm), q_w = round(w * scale / s_w), in -127..127;
//   inputs   per tensor, the calibrated range act_min..act_max (weights/calibrate.h) onto 0..255:
//            s_x = (act_max - act_min) / 255, zero point z = round(-act_min / s_x),
//            q_x = clamp(round(x / s_x + z), 0, 255) (one fma), values outside saturating. Inputs
//            that are >= 0 (post-ReLU: every ResNet conv but conv1) have act_min = 0, z = 0;
//            conv1's, the normalized image, is signed: its padding is z (the code of 0.0), so every
//            output sums all KH * KW * C taps and z * sum_k q_w[k, oc] is one constant per channel;
//   output   y = fma(float(sum q_x * q_w), s_x * s_w[oc], bias[oc] - s_x * s_w[oc] * z * sum_k q_w)
//            (+ residual, max 0); the bias term is int8_bias (z = 0: bias unchanged).
// Rounding is to nearest even (the CPU's default mode) everywhere; the tiles and the _ref twin
// quantize with the same float operations and sum exactly in int32 (at most 255 * 127 * K, K <
// 2^16 for every ResNet convolution), so their outputs are bit-identical.
//
// Packed weights: [nb][KH][KW * Cp / 4][NV * 16][4] int8, nb = ceil(OC / (NV * 16)) blocks of NV
// vectors of 16 output channels (the last block zero-padded), Cp = C rounded up to a multiple of
// 4, the innermost four consecutive reduction indices k = kw * Cp + c, as vpdpbusd reads them.
// The quantized input is the zero-padded copy [N, Hp, Wp, Cp] uint8 written by one pass, as the
// bf16 convolution's (conv_bf16.h; both run lowp_conv.h's driver: tiles of M output pixels x NV
// vectors, whole work items per thread so results do not depend on the thread count).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/kernels/conv.h"
#include "engine/kernels/lowp_conv.h"

namespace ds {

// x -> its uint8 code at inverse scale inv (1 / s_x) and zero point z: round to nearest even of
// fma(x, inv, z), clamped to 0..255 (NaN -> 0). The tiles' vector quantizer does the same float
// operations (with z = 0 the fma is the plain product).
inline uint8_t quantize_u8(float x, float inv, float z = 0.0f) {
  float v = std::fma(x, inv, z);
  v = v > 0.0f ? v : 0.0f;  // NaN compares false: 0
  v = v < 255.0f ? v : 255.0f;
  return (uint8_t)std::nearbyint(v);
}

// A convolution's weights in int8, packed for the tiles (layout above), with what the epilogue
// needs: out_scale[oc] = s_x * s_w[oc] for the input scale they were packed for.
struct ConvInt8Weights : LowpPacking {  // group 4: kg groups of four per kernel row
  float act_max = 0;                    // the input's calibrated range: act_min..act_max maps to 0..255
  float act_min = 0;                    // <= 0; 0 for inputs that are never negative
  float in_inv = 0;                     // 255 / (act_max - act_min), for quantize_u8
  float zero = 0;                       // z, the code of 0.0 (an integer in 0..255): padding's value
  std::vector<int32_t> w_sum;           // sum over k of q_w[k, oc], for the zero point's constant
  std::vector<float> w_scale;           // s_w[oc]
  std::vector<float> out_scale;         // s_x * s_w[oc], padded with zeros to nb * NV * 16
  std::vector<int8_t> packed;           // [nb][KH][kg][NV * 16][4]
  // The int8 weight of (kh, kw, c, oc), c < Cp (zero for c >= C), oc < nb * NV * 16.
  int8_t at(int64_t kh, int64_t kw, int64_t c, int64_t oc) const { return packed[(size_t)index(kh, kw, c, oc)]; }
};

// w [KH, KW, C, OC] fp32 (the layers' layout) times scale[oc] (null: 1), quantized per output
// channel, for inputs in act_min..act_max (act_max > 0 >= act_min, both finite).
ConvInt8Weights pack_conv_int8(const float* w, const float* scale, int64_t KH, int64_t KW, int64_t C, int64_t OC,
                               float act_max, float act_min = 0.0f);

// The epilogue's bias for output channel oc: bias (null: 0) minus the zero point's constant
// out_scale[oc] * z * w_sum[oc]; the tiles and the twin both use it.
float int8_bias(const ConvInt8Weights& w, const float* bias, int64_t oc);

// out = epilogue(conv(q(in), q(w))) with ep.weight_scale null (fold it into the packing):
// * out_scale[oc] + bias[oc] (one fma), + residual, max(., 0). Runs the AVX512-VNNI tiles when
// has_vnni_kernels() (engine/cpu_features.h), else the reference twin (the same numbers, slowly;
// the CLI refuses int8 there instead).
void conv2d_forward_int8(float* out,       // [N, OH, OW, OC] fp32
                         const float* in,  // [N, H, W, C] fp32, quantized on the way in
                         const ConvInt8Weights& w, const ConvDims& d, const ConvEpilogue& ep = {});

// Checks that d matches w's shape and that ep has no weight_scale (internal error otherwise).
void check_int8_dims(const ConvInt8Weights& w, const ConvDims& d, const ConvEpilogue& ep);

// Direct loops: each input quantized by quantize_u8, products summed in int32 (the taps outside
// the input count as code z, as the tiles' padding), then the same epilogue. The test oracle, and what runs without
// AVX512-VNNI or in reference mode.
void conv2d_forward_int8_ref(float* out, const float* in, const ConvInt8Weights& w, const ConvDims& d,
                             const ConvEpilogue& ep = {});

// One tile for the VNNI instance (conv_int8_avx512vnni.cpp): uint8 A, int8 B, kg groups of four
// per kernel row, scale = out_scale.
using Int8Tile = LowpTile<uint8_t, int8_t>;

struct ConvInt8Kernels {
  int max_m[5];                                                                     // pixels per tile for NV = 1..4
  void (*tile)(const Int8Tile& t, int M, int NV);                                   // M == max_m[NV]
  void (*quantize)(uint8_t* dst, const float* src, int64_t n, float inv, float z);  // quantize_u8(src[i], inv, z)
};
const ConvInt8Kernels& conv_int8_kernels_avx512vnni();

}  // namespace ds
