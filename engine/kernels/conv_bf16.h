// bf16 inference convolution: channels-last fp32 activations in and out, products of bf16 values
// summed in fp32 (AVX512-BF16's vdpbf16ps), for `--precision bf16` (issue 20). Inference only:
// there is no backward pass, and training stays fp32.
//
// Weights are packed once (pack_conv_bf16), with any per-channel scale (a folded BatchNorm)
// multiplied in before rounding to bf16:
//   packed [nb][KH][KW * Cp / 2][NV * 16][2] bf16, nb = ceil(OC / (NV * 16)) blocks of NV
//   vectors of 16 output channels (the last block zero-padded), Cp = C rounded up to even, and
//   the innermost pair two consecutive reduction indices k = kw * Cp + c, as vdpbf16ps reads them.
// Activations are converted at the consumer: conv2d_forward_bf16 rounds its fp32 input to bf16
// while it writes the zero-padded, even-channelled copy the tiles read ([N, Hp, Wp, Cp] bf16),
// a pass the input needs anyway to become bf16 (the fp32 kernel skips its padded copy from 16
// channels on by reading tap by tap; here the copy comes with the conversion, and conv1's 3
// channels are padded to 4 so that a kernel row's KW * Cp inputs come in pairs). Converting in the producer's epilogue
// would save that pass but make every layer between convolutions (max-pool, residual adds, average pooling) handle two
// types; measured, the pass is about 5% of a bf16 ResNet-18 forward (BENCHMARKS.md, "bf16 inference"). The tiles: M
// consecutive output pixels x NV vectors of output channels, accumulators in fp32 registers, the whole reduction in one
// pass (a block's bf16 weights, at most 3 x 3 x 512 x 64 x 2 B = 576 KB in ResNet, stay in L2 while the block's pixel
// group passes), then the epilogue
// (+ bias[oc], + residual, max 0) as they are stored. Every output is computed by one thread in
// an order that depends on the shapes only, so results do not depend on the thread count (the
// threads take whole work items, output-channel block x group of pixels, dynamically).
// Rounding is round-to-nearest-even throughout (to_bf16); the _ref twin does the same rounding in
// scalar code and sums the exact products in double, so the two differ only by fp32 summation
// (and below 1e-38: vdpbf16ps treats denormal inputs as zero, the twin does not).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/kernels/conv.h"
#include "engine/kernels/lowp_conv.h"

namespace ds {

// fp32 -> bf16 bits, round to nearest even (NaN stays NaN, quiet); bf16 bits -> fp32 (exact).
inline uint16_t to_bf16(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}
inline float from_bf16(uint16_t b) {
  const uint32_t u = (uint32_t)b << 16;
  float x;
  __builtin_memcpy(&x, &u, 4);
  return x;
}

// A convolution's weights in bf16, packed for the tiles (layout above).
struct ConvBf16Weights : LowpPacking {  // group 2: kg bf16 pairs per kernel row
  std::vector<uint16_t> packed;         // [nb][KH][kg][NV * 16][2]
  // The bf16 weight of (kh, kw, c, oc), c < Cp (zero for c >= C), oc < nb * NV * 16.
  uint16_t at(int64_t kh, int64_t kw, int64_t c, int64_t oc) const { return packed[(size_t)index(kh, kw, c, oc)]; }
};

// w [KH, KW, C, OC] fp32 (the layers' layout), times scale[oc] (null: 1) before rounding.
ConvBf16Weights pack_conv_bf16(const float* w, const float* scale, int64_t KH, int64_t KW, int64_t C, int64_t OC);

// out = epilogue(conv(bf16(in), w)) with ep.weight_scale null (fold it into the packing):
// + bias[oc], + residual (which may be out itself: ConvEpilogue), max(., 0). d's C, KH, KW, OC must match w's.
// Runs the AMX-BF16 tiles when has_amx_bf16_kernels(), else the AVX512-BF16 tiles when has_bf16_kernels()
// (engine/cpu_features.h), else the reference twin (slow but the same numbers; callers that care refuse bf16
// instead, as the CLI does).
void conv2d_forward_bf16(float* out,       // [N, OH, OW, OC] fp32
                         const float* in,  // [N, H, W, C] fp32, rounded to bf16 on the way in
                         const ConvBf16Weights& w, const ConvDims& d, const ConvEpilogue& ep = {});

// Direct loops: each input rounded by to_bf16, products of bf16 values summed in double, then
// the epilogue in fp32. The test oracle, and what runs without AVX512-BF16 or in reference mode.
void conv2d_forward_bf16_ref(float* out, const float* in, const ConvBf16Weights& w, const ConvDims& d,
                             const ConvEpilogue& ep = {});

// One tile for the AVX512-BF16 instance (conv_bf16_avx512bf16.cpp): bf16 bits in A and B, kg =
// kg pairs per kernel row, no scale (folded into the weights).
using Bf16Tile = LowpTile<uint16_t, uint16_t>;

struct ConvBf16Kernels {
  int max_m[5];                                               // pixels per tile for NV = 1..4 (index NV)
  void (*tile)(const Bf16Tile& t, int M, int NV);             // M == max_m[NV]; rows <= M are stored
  void (*round)(uint16_t* dst, const float* src, int64_t n);  // dst[i] = to_bf16(src[i])
};
const ConvBf16Kernels& conv_bf16_kernels_avx512bf16();
// AMX-BF16 tiles of 16 pixels (lowp_amx_tiles.inc): on the hardware (only where
// has_amx_bf16_kernels()), and on emulated tile registers (any AVX-512 CPU with AVX512-BF16; for
// tests, slow).
const ConvBf16Kernels& conv_bf16_kernels_amx();
const ConvBf16Kernels& conv_bf16_kernels_amx_emulated();
// conv2d_forward_bf16 on the given tiles (tests run each instance this way).
void conv2d_forward_bf16_on(const ConvBf16Kernels& k, float* out, const float* in, const ConvBf16Weights& w,
                            const ConvDims& d, const ConvEpilogue& ep = {});

}  // namespace ds
