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
  for (int m = 0; m < M; ++m)
    for (int v = 0; v < NV; ++v) acc[m][v] = _mm512_setzero_si512();
  const int8_t* b = t.b;
  for (int64_t kh = 0; kh < t.KH; ++kh) {
    const uint8_t* a[M];
    for (int m = 0; m < M; ++m) a[m] = t.a_rows[m] + kh * t.a_ld;
    for (int64_t p = 0; p < t.k4; ++p, b += NV * 64) {
      __m512i bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(b + v * 64);
      for (int m = 0; m < M; ++m) {
        int32_t quad;
        std::memcpy(&quad, a[m] + 4 * p, 4);
        const __m512i av = _mm512_set1_epi32(quad);
        for (int v = 0; v < NV; ++v) acc[m][v] = _mm512_dpbusd_epi32(acc[m][v], av, bv[v]);
      }
    }
  }
  for (int m = 0; m < M; ++m) {
    if (m >= t.rows) break;
    for (int v = 0; v < NV; ++v) {
      const int64_t n0 = v * 16;
      if (n0 >= t.N) break;
      const __mmask16 k = t.N - n0 >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (t.N - n0)) - 1);
      const __m512 bias = t.bias ? _mm512_maskz_loadu_ps(k, t.bias + n0) : _mm512_setzero_ps();
      const __m512 sum = (__m512) __builtin_convertvector((i32x16)acc[m][v], f32x16);  // vcvtdq2ps, nearest
      __m512 x = _mm512_fmadd_ps(sum, _mm512_maskz_loadu_ps(k, t.scale + n0), bias);
      if (t.res) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(k, t.res + m * t.ldc + n0));
      if (t.relu) x = (__m512)((f32x16)x > 0.0f ? (f32x16)x : 0.0f);  // (GCC 12 warns on _mm512_max_ps)
      _mm512_mask_storeu_ps(t.c + m * t.ldc + n0, k, x);
    }
  }
}

void tile(const Int8Tile& t, int M, int NV) {
  switch (NV) {
    case 4: return tile_mn<6, 4>(t);
    case 3: return tile_mn<8, 3>(t);
    case 2: return tile_mn<12, 2>(t);
    default: return tile_mn<14, 1>(t);
  }
}

// quantize_u8 on 16 floats with the same float operations: multiply, clamp to 0..255 (NaN -> 0),
// then round to nearest even by adding and subtracting 1.5 * 2^23 (exact for 0..255: the sum's
// last bit is the integer's), an exact truncating conversion, and vpmovdb.
void quantize(uint8_t* dst, const float* src, int64_t n, float inv) {
  const f32x16 vinv = (f32x16)_mm512_set1_ps(inv), magic = (f32x16)_mm512_set1_ps(12582912.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    f32x16 v;
    std::memcpy(&v, src + i, 64);
    v = v * vinv;
    v = v > 0.0f ? v : 0.0f;
    v = v < 255.0f ? v : 255.0f;
    v = (v + magic) - magic;
    const u8x16 q = __builtin_convertvector(__builtin_convertvector(v, i32x16), u8x16);
    std::memcpy(dst + i, &q, 16);
  }
  for (; i < n; ++i) dst[i] = quantize_u8(src[i], inv);
}

}  // namespace

const ConvInt8Kernels& conv_int8_kernels_avx512vnni() {
  static const ConvInt8Kernels k = {.max_m = {0, 14, 12, 8, 6}, .tile = tile, .quantize = quantize};
  return k;
}

}  // namespace ds
