// The reduced-precision tiles' epilogue on AVX2 (LowpTile in lowp_conv.h), for the AVX-VNNI int8
// instance: the same operations as lowp_epilogue_avx512.h on 8 columns a vector (each row's sums
// as fp32, times scale when given, plus bias, the row's own when row_bias is set, in one fma;
// + residual, fp32 or codes times their scale, max 0, and/or the next convolution's codes),
// columns past N masked. Include only from files built with AVX2
// and FMA.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/kernels/lowp_conv.h"

namespace ds {

typedef float lowp_f32x8 __attribute__((vector_size(32)));

// sum(m, h): the fp32 sums of row m, columns col0 + 8h .. col0 + 8h + 7, for h < NH. The tile is
// read through a local copy, as in lowp_epilogue_avx512.h (code stores may alias the caller's),
// and the loops unrolled, skipping rather than leaving, so the sums stay in registers (as there).
template <int M, int NH, class A, class B, class Sum>
__attribute__((always_inline)) inline void lowp_store_rows_avx2(const LowpTile<A, B>& tile, int64_t col0, Sum sum) {
  const LowpTile<A, B> t = tile;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256 res_scale = _mm256_set1_ps(t.res_scale), out_inv = _mm256_set1_ps(t.out_inv),
               out_zero = _mm256_set1_ps(t.out_zero);
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) {
    if (m >= t.rows) continue;
    const float* rb = t.row_bias ? t.row_bias[m] : t.bias;
    const uint8_t* rc = t.res_codes ? t.res_codes[m] : nullptr;
    uint8_t* oc = t.out_codes ? t.out_codes[m] : nullptr;
#pragma GCC unroll 4
    for (int h = 0; h < NH; ++h) {
      const int64_t n0 = col0 + 8 * h;
      if (n0 >= t.N) continue;
      const size_t lanes = (size_t)std::min<int64_t>(8, t.N - n0);
      // Lanes n0 + i < N: all of them, or a mask (maskload reads nothing past it).
      const __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)lanes), lane);
      auto load = [&](const float* p) { return _mm256_maskload_ps(p, k); };
      const __m256 b = rb ? load(rb + n0) : _mm256_setzero_ps();
      __m256 x = sum(m, h);
      x = t.scale ? _mm256_fmadd_ps(x, load(t.scale + n0), b) : _mm256_add_ps(x, b);
      if (t.res) x = _mm256_add_ps(x, load(t.res + m * t.ldr + n0));
      if (rc) {  // 8 codes (none read past N), product then sum as the AVX-512 epilogue
        uint64_t bytes = 0;
        std::memcpy(&bytes, rc + n0, lanes);
        const __m128i q = _mm_cvtsi64_si128((long long)bytes);
        __m256 p = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q)), res_scale);
        asm("" : "+x"(p));  // not contracted into an fma (these files build with -ffp-contract=fast)
        x = _mm256_add_ps(x, p);
      }
      if (t.relu) x = (__m256)((lowp_f32x8)x > 0.0f ? (lowp_f32x8)x : 0.0f);  // NaN -> 0, as the other tiles
      if (oc) {  // quantize_u8 as int8_quantize_vector (int8_quantize_loops.h)
        lowp_f32x8 q = (lowp_f32x8)_mm256_fmadd_ps(x, out_inv, out_zero);
        q = q > 0.0f ? q : 0.0f;  // NaN -> 0
        q = q < 255.0f ? q : 255.0f;
        q = (q + 12582912.0f) - 12582912.0f;  // to nearest even: exact for 0..255
        const __m256i i = _mm256_cvttps_epi32((__m256)q);
        const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
        const uint64_t bytes = (uint64_t)_mm_cvtsi128_si64(_mm_packus_epi16(w, w));
        std::memcpy(oc + n0, &bytes, lanes);
      }
      if (t.c) _mm256_maskstore_ps(t.c + m * t.ldc + n0, k, x);
    }
  }
}

}  // namespace ds
