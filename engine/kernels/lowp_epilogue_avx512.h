// The reduced-precision tiles' epilogue on AVX-512 (LowpTile in lowp_conv.h), shared by the
// AVX512-BF16 and AVX512-VNNI instances: each row's sums, as fp32, times scale (when given) plus
// bias (the row's own when row_bias is set) in one fma, + residual (fp32, or codes times their
// scale), max 0, stored with a mask past N, and/or quantized to the next convolution's codes. Include only from files
// built with AVX-512 flags (*_avx512bf16.cpp, *_avx512vnni.cpp).
#pragma once
#include <immintrin.h>

#include "engine/kernels/lowp_conv.h"

namespace ds {

// The epilogue's parts a tile has (lowp_parts), as bits.
constexpr unsigned kLowpScale = 1u << 0;
constexpr unsigned kLowpBias = 1u << 1;
constexpr unsigned kLowpRowBias = 1u << 2;
constexpr unsigned kLowpRes = 1u << 3;
constexpr unsigned kLowpResCodes = 1u << 4;
constexpr unsigned kLowpRelu = 1u << 5;
constexpr unsigned kLowpCodes = 1u << 6;
constexpr unsigned kLowpStore = 1u << 7;
constexpr unsigned kLowpWhole = 1u << 8;  // all M rows and all NV * 16 columns
template <int M, int NV, class A, class B>
inline unsigned lowp_parts(const LowpTile<A, B>& t) {
  return (t.scale ? kLowpScale : 0) | (t.bias ? kLowpBias : 0) | (t.row_bias ? kLowpRowBias : 0) |
         (t.res ? kLowpRes : 0) | (t.res_codes ? kLowpResCodes : 0) | (t.relu ? kLowpRelu : 0) |
         (t.out_codes ? kLowpCodes : 0) | (t.c ? kLowpStore : 0) | (t.rows == M && t.N == 16 * NV ? kLowpWhole : 0);
}

// sum(m, v): the fp32 sums of row m, vector v. The tile is read through a local copy: read through
// the caller's, the compiler reloads its fields after every store of codes (uint8_t stores may
// alias anything), and on a 1x1 convolution with 64 input channels the epilogue is over half the tile.
// Both loops are unrolled, skipping rather than leaving: a loop with a break indexes sum's
// accumulators at run time, which keeps them on the stack (stored there after every reduction).
// Parts: the tile's lowp_parts when Known; otherwise they are computed here and tested per value
// (a test and a branch each, per row and vector).
template <int M, int NV, bool Known, unsigned Parts, class A, class B, class Sum>
__attribute__((always_inline)) inline void lowp_store_rows_as(const LowpTile<A, B>& tile, Sum sum) {
  const LowpTile<A, B> t = tile;
  const unsigned parts = Known ? Parts : lowp_parts<M, NV>(t);
  auto has = [&](unsigned part) { return (parts & part) != 0; };
  const bool whole = has(kLowpWhole), scale = has(kLowpScale), bias = has(kLowpBias), row_bias = has(kLowpRowBias);
  const bool res = has(kLowpRes), res_codes = has(kLowpResCodes), relu = has(kLowpRelu), codes = has(kLowpCodes);
  const bool store = has(kLowpStore);
  const __m512 zero = _mm512_setzero_ps(), res_scale = _mm512_set1_ps(t.res_scale);
  const __m512 out_inv = _mm512_set1_ps(t.out_inv), out_zero = _mm512_set1_ps(t.out_zero);
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) {
    if (!whole && m >= t.rows) continue;
    const float* rb = row_bias ? t.row_bias[m] : bias ? t.bias : nullptr;
    const uint8_t* rc = res_codes ? t.res_codes[m] : nullptr;
    uint8_t* oc = codes ? t.out_codes[m] : nullptr;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const int64_t n0 = v * 16;
      if (!whole && n0 >= t.N) continue;
      const __mmask16 k = whole || t.N - n0 >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (t.N - n0)) - 1);
      __m512 x = sum(m, v);
      // Without a bias, + 0 still: a bf16 accumulator can be -0 (vdpbf16ps flushes a tiny product
      // to a signed zero), which sum + 0 stores as +0.
      const __m512 b = rb ? _mm512_maskz_loadu_ps(k, rb + n0) : zero;
      x = scale ? _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(k, t.scale + n0), b) : _mm512_add_ps(x, b);
      if (res) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(k, t.res + m * t.ldr + n0));
      if (res_codes && rc) {  // product, then sum: what adding the codes' fp32 value (int8_fake_quantize) rounds to
        // (The maskz forms: GCC 12's unmasked ones raise false -Wmaybe-uninitialized reports.)
        const __m512i q = _mm512_maskz_cvtepu8_epi32(k, _mm_maskz_loadu_epi8(k, rc + n0));
        __m512 p = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(k, q), res_scale);
        asm("" : "+v"(p));  // not contracted into an fma (these files build with -ffp-contract=fast)
        x = _mm512_add_ps(x, p);
      }
      // max(x, 0) is x > 0 ? x : 0, NaN and -0 included (vmaxps returns its second operand then).
      if (relu) x = _mm512_maskz_max_ps((__mmask16)0xffff, x, zero);
      if (codes && oc) {  // quantize_u8 as the int8 instances' quantize16 (oc null: a pixel not held)
        __m512 q = _mm512_fmadd_ps(x, out_inv, out_zero);
        q = _mm512_maskz_max_ps((__mmask16)0xffff, q, zero);                   // NaN -> 0
        const __m512i i = _mm512_maskz_cvtps_epi32(k, q);                      // to nearest even
        _mm_mask_storeu_epi8(oc + n0, k, _mm512_maskz_cvtusepi32_epi8(k, i));  // clamp to 255
      }
      if (store) _mm512_mask_storeu_ps(t.c + m * t.ldc + n0, k, x);
    }
  }
}

// The epilogue, compiled for the parts the convolutions of ResNet's inference have (a few
// instances, no per-value tests: at int8 those were ~10% of the tile's time, at bf16 Winograd's
// GEMMs, which store plain sums, a third), else tested at run time.
template <int M, int NV, class A, class B, class Sum>
__attribute__((always_inline)) inline void lowp_store_rows(const LowpTile<A, B>& t, Sum sum) {
  constexpr unsigned W = kLowpWhole;
  switch (lowp_parts<M, NV>(t)) {
    case W | kLowpStore:  // bf16 Winograd's GEMMs
      return lowp_store_rows_as<M, NV, true, W | kLowpStore>(t, sum);
    case W | kLowpBias | kLowpRelu | kLowpStore:  // bf16: a block's first convolution
      return lowp_store_rows_as<M, NV, true, W | kLowpBias | kLowpRelu | kLowpStore>(t, sum);
    case W | kLowpBias | kLowpRes | kLowpRelu | kLowpStore:  // bf16: its last, with the residual
      return lowp_store_rows_as<M, NV, true, W | kLowpBias | kLowpRes | kLowpRelu | kLowpStore>(t, sum);
    case W | kLowpScale | kLowpBias | kLowpRelu | kLowpCodes:  // int8 chains: a block's first convolution
      return lowp_store_rows_as<M, NV, true, W | kLowpScale | kLowpBias | kLowpRelu | kLowpCodes>(t, sum);
    case W | kLowpScale | kLowpBias | kLowpResCodes | kLowpRelu | kLowpCodes:  // its last, identity residual
      return lowp_store_rows_as<M, NV, true, W | kLowpScale | kLowpBias | kLowpResCodes | kLowpRelu | kLowpCodes>(t,
                                                                                                                  sum);
    case W | kLowpScale | kLowpBias | kLowpRes | kLowpRelu | kLowpCodes:  // its last, the downsample's residual
      return lowp_store_rows_as<M, NV, true, W | kLowpScale | kLowpBias | kLowpRes | kLowpRelu | kLowpCodes>(t, sum);
    case W | kLowpScale | kLowpBias | kLowpStore:  // int8: the fused downsample's tile
      return lowp_store_rows_as<M, NV, true, W | kLowpScale | kLowpBias | kLowpStore>(t, sum);
    default: return lowp_store_rows_as<M, NV, false, 0>(t, sum);
  }
}

}  // namespace ds
