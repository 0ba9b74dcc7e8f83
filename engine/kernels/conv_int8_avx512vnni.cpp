// AVX512-VNNI instance of the int8 convolution tiles (conv_int8.h): vpdpbusd multiplies 64
// unsigned bytes of A by 64 signed bytes of B and adds each group of four products to one of 16
// int32 accumulators, exactly (no saturation), so one instruction does four times the
// multiply-adds of an fp32 FMA on the same register. Tile shapes as the bf16 tiles' (6 x 4, 8 x 3,
// 12 x 2, 14 x 1 accumulators plus NV B vectors and one broadcast group of A). Compiled with
// -mavx512vnni (CMakeLists.txt gives the flag to *_avx512vnni.cpp files only) and called only
// when has_vnni_kernels().
#include <immintrin.h>

#include <cstring>

#include "engine/kernels/conv_int8.h"
#include "engine/kernels/int8_quantize_loops.h"
#include "engine/kernels/lowp_epilogue_avx512.h"

namespace ds {

namespace {

// GCC vector types for the conversions rather than intrinsics: GCC 12's conversion intrinsics
// raise false -Wmaybe-uninitialized reports (as in conv_bf16_avx512bf16.cpp).
typedef float f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));
typedef uint8_t u8x16 __attribute__((vector_size(16)));

template <int M, int NV>
void tile_mn(const Int8Tile& t) {
  __m512i acc[M][NV];
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[m][v] = _mm512_setzero_si512();
  const int8_t* b = t.b;
  for (int64_t kh = 0; kh < t.KH; ++kh) {
    const uint8_t* a[M];
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) a[m] = t.a_rows[m] + kh * t.a_ld;
    for (int64_t p = 0; p < t.kg; ++p, b += NV * 64) {
      __m512i bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(b + v * 64);
#pragma GCC unroll 16
      for (int m = 0; m < M; ++m) {
        int32_t quad;
        std::memcpy(&quad, a[m] + 4 * p, 4);
        const __m512i av = _mm512_set1_epi32(quad);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[m][v] = _mm512_dpbusd_epi32(acc[m][v], av, bv[v]);
      }
    }
  }
  lowp_store_rows<M, NV>(t, [&](int m, int v) {  // vcvtdq2ps, to nearest
    return (__m512) __builtin_convertvector((i32x16)acc[m][v], f32x16);
  });
}

void tile(const Int8Tile& t, int M, int NV) {
  switch (NV) {
    case 4: return tile_mn<6, 4>(t);
    case 3: return tile_mn<8, 3>(t);
    case 2: return tile_mn<12, 2>(t);
    default: return tile_mn<14, 1>(t);
  }
}

// quantize_u8 on 16 floats in four instructions: the fma, max with 0 (NaN -> 0), a conversion
// that rounds to nearest even (the default mode), and vpmovusdb, whose unsigned saturation is the
// clamp to 255 (values past 2^31 and +inf convert to 0x80000000, which saturates to 255 too).
// Rounding then clamping equals quantize_u8's clamping then rounding: the bounds are integers.
// (int8_quantize_vector's portable form takes nine; test_int8 checks both against quantize_u8.)
inline void quantize16(uint8_t* dst, const float* src, f32x16 inv, f32x16 z) {
  f32x16 v = (f32x16)_mm512_fmadd_ps(_mm512_loadu_ps(src), (__m512)inv, (__m512)z);
  v = v > 0.0f ? v : 0.0f;
  // (The maskz forms: GCC 12's unmasked ones raise false -Wmaybe-uninitialized reports.)
  const __m512i q = _mm512_maskz_cvtps_epi32((__mmask16)0xffff, (__m512)v);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm512_maskz_cvtusepi32_epi8((__mmask16)0xffff, q));
}

void quantize(uint8_t* dst, const float* src, int64_t n, float inv, float z) {
  int8_quantize_uniform<f32x16>(dst, src, n, inv, z, quantize16);
}

void quantize_channels(uint8_t* dst, const float* src, int64_t n, const float* inv_pattern, const float* z_pattern,
                       int64_t C) {
  int8_quantize_channels<f32x16>(dst, src, n, inv_pattern, z_pattern, C, quantize16);
}

}  // namespace

const ConvInt8Kernels& conv_int8_kernels_avx512vnni() {
  static const ConvInt8Kernels k = {
      .max_m = {0, 14, 12, 8, 6}, .tile = tile, .quantize = quantize, .quantize_channels = quantize_channels};
  return k;
}

}  // namespace ds
