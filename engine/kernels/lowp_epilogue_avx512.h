// The reduced-precision tiles' epilogue on AVX-512 (LowpTile in lowp_conv.h), shared by the
// AVX512-BF16 and AVX512-VNNI instances: each row's sums, as fp32, times scale (when given) plus
// bias (the row's own when row_bias is set) in one fma, + residual (fp32, or codes times their
// scale), max 0, stored with a mask past N, and/or quantized to the next convolution's codes. Include only from files
// built with AVX-512 flags (*_avx512bf16.cpp, *_avx512vnni.cpp).
#pragma once
#include <immintrin.h>

#include "engine/kernels/lowp_conv.h"

namespace ds {

// sum(m, v): the fp32 sums of row m, vector v. The tile is read through a local copy: read through
// the caller's, the compiler reloads its fields after every store of codes (uint8_t stores may
// alias anything), and on a 1x1 convolution with 64 input channels the epilogue is over half the tile.
// Both loops are unrolled, skipping rather than leaving: a loop with a break indexes sum's
// accumulators at run time, which keeps them on the stack (stored there after every reduction).
template <int M, int NV, class A, class B, class Sum>
__attribute__((always_inline)) inline void lowp_store_rows(const LowpTile<A, B>& tile, Sum sum) {
  const LowpTile<A, B> t = tile;
  // A whole tile of plain sums (bf16 Winograd's GEMMs into M: no epilogue at all) is M x NV
  // stores: through the general path below, its branches were a third of those GEMMs' tile time
  // at 64 channels. (An accumulator is never -0, so its sum + 0 there is the sum itself.)
  if (t.c && t.rows == M && t.N == 16 * NV && !t.scale && !t.bias && !t.row_bias && !t.res && !t.res_codes && !t.relu &&
      !t.out_codes) {
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(t.c + m * t.ldc + v * 16, sum(m, v));
    return;
  }
  const __m512 zero = _mm512_setzero_ps(), res_scale = _mm512_set1_ps(t.res_scale);
  const __m512 out_inv = _mm512_set1_ps(t.out_inv), out_zero = _mm512_set1_ps(t.out_zero);
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) {
    if (m >= t.rows) continue;
    const float* rb = t.row_bias ? t.row_bias[m] : t.bias;
    const uint8_t* rc = t.res_codes ? t.res_codes[m] : nullptr;
    uint8_t* oc = t.out_codes ? t.out_codes[m] : nullptr;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const int64_t n0 = v * 16;
      if (n0 >= t.N) continue;
      const __mmask16 k = t.N - n0 >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (t.N - n0)) - 1);
      const __m512 b = rb ? _mm512_maskz_loadu_ps(k, rb + n0) : zero;
      __m512 x = sum(m, v);
      x = t.scale ? _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(k, t.scale + n0), b) : _mm512_add_ps(x, b);
      if (t.res) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(k, t.res + m * t.ldr + n0));
      if (rc) {  // product, then sum: what adding the codes' fp32 value (int8_fake_quantize) rounds to
        // (The maskz forms: GCC 12's unmasked ones raise false -Wmaybe-uninitialized reports.)
        const __m512i q = _mm512_maskz_cvtepu8_epi32(k, _mm_maskz_loadu_epi8(k, rc + n0));
        __m512 p = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(k, q), res_scale);
        asm("" : "+v"(p));  // not contracted into an fma (these files build with -ffp-contract=fast)
        x = _mm512_add_ps(x, p);
      }
      // max(x, 0) is x > 0 ? x : 0, NaN and -0 included (vmaxps returns its second operand then).
      if (t.relu) x = _mm512_maskz_max_ps((__mmask16)0xffff, x, zero);
      if (oc) {  // quantize_u8 as the int8 instances' quantize16
        __m512 q = _mm512_fmadd_ps(x, out_inv, out_zero);
        q = _mm512_maskz_max_ps((__mmask16)0xffff, q, zero);                   // NaN -> 0
        const __m512i i = _mm512_maskz_cvtps_epi32(k, q);                      // to nearest even
        _mm_mask_storeu_epi8(oc + n0, k, _mm512_maskz_cvtusepi32_epi8(k, i));  // clamp to 255
      }
      if (t.c) _mm512_mask_storeu_ps(t.c + m * t.ldc + n0, k, x);
    }
  }
}

}  // namespace ds
