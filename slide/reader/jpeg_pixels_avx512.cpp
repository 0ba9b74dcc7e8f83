// The AVX-512 instance of jpeg_pixels.h: AVX2's stages, with an IDCT of two blocks at once (each
// 16-lane vector holds a row of both: block a in lanes 0-7, block b in 8-15), the arithmetic of
// the AVX2 IDCT lane for lane, so the pixels and the range answer are the same.
#include <immintrin.h>

#include "slide/reader/jpeg_idct_1d.h"
#include "slide/reader/jpeg_pixels.h"

// GCC 12's unmasked AVX-512 intrinsics pass _mm512_undefined_epi32() as the merge source, which
// it then reports as used uninitialized (-Wuninitialized, also -Wmaybe-uninitialized); false.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace ds {

namespace {

constexpr int kConstBits = kIdctConstBits, kPass1Bits = kIdctPass1Bits, kLimit = 1 << 14;

typedef int32_t v16si __attribute__((vector_size(64)));

// jidctint.c's 1-D IDCT (jpeg_idct_1d.h) on 16 lanes, in place.
inline __attribute__((always_inline)) void idct_1d(__m512i* v) {
  v16si w[8];
  for (int k = 0; k < 8; ++k) w[k] = (v16si)v[k];
  idct_1d_islow(w);
  for (int k = 0; k < 8; ++k) v[k] = (__m512i)w[k];
}

inline __attribute__((always_inline)) void descale(__m512i* v, int n) {
  const __m512i half = _mm512_set1_epi32(1 << (n - 1));
  for (int k = 0; k < 8; ++k) v[k] = _mm512_srai_epi32(_mm512_add_epi32(v[k], half), n);
}

// Each 256-bit half (one block's 8 x 8) transposed, as the AVX2 transpose does per block.
inline __attribute__((always_inline)) void transpose8x2(__m512i* v) {
  __m512i t[8], u[8];
  for (int k = 0; k < 8; k += 2) {
    t[k] = _mm512_unpacklo_epi32(v[k], v[k + 1]);
    t[k + 1] = _mm512_unpackhi_epi32(v[k], v[k + 1]);
  }
  for (int k = 0; k < 8; k += 4) {
    u[k] = _mm512_unpacklo_epi64(t[k], t[k + 2]);
    u[k + 1] = _mm512_unpackhi_epi64(t[k], t[k + 2]);
    u[k + 2] = _mm512_unpacklo_epi64(t[k + 1], t[k + 3]);
    u[k + 3] = _mm512_unpackhi_epi64(t[k + 1], t[k + 3]);
  }
  // Per half: [x.lane0, y.lane0] and [x.lane1, y.lane1] (64-bit indices; 8+ selects y).
  const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm512_permutex2var_epi64(u[k], lo, u[k + 4]);
    v[k + 4] = _mm512_permutex2var_epi64(u[k], hi, u[k + 4]);
  }
}

// Lanes where some v[k] lies outside [lo, lo + span), span a power of two: v - lo has bits at or
// above span's exactly then (an add and an OR per vector instead of two compares).
inline __attribute__((always_inline)) __m512i outside(const __m512i* v, int lo, int span) {
  const __m512i neg_lo = _mm512_set1_epi32(-lo);
  __m512i acc = _mm512_setzero_si512();
  for (int k = 0; k < 8; ++k) acc = _mm512_or_si512(acc, _mm512_add_epi32(v[k], neg_lo));
  return _mm512_and_si512(acc, _mm512_set1_epi32(-span));
}

bool idct2_avx512(const int16_t* ca, const int16_t* qa, uint8_t* oa, size_t sa, const int16_t* cb, const int16_t* qb,
                  uint8_t* ob, size_t sb) {
  __m512i v[8];
  for (int r = 0; r < 8; ++r) {  // lanes: the columns of a, then of b
    const __m256i c = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i*)(ca + 8 * r))),
                                              _mm_loadu_si128((const __m128i*)(cb + 8 * r)), 1);
    const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i*)(qa + 8 * r))),
                                              _mm_loadu_si128((const __m128i*)(qb + 8 * r)), 1);
    v[r] = _mm512_mullo_epi32(_mm512_cvtepi16_epi32(c), _mm512_cvtepi16_epi32(q));
  }
  __m512i bad = outside(v, -kLimit, 2 * kLimit);
  idct_1d(v);
  descale(v, kConstBits - kPass1Bits);
  bad = _mm512_or_si512(bad, outside(v, -kLimit, 2 * kLimit));
  transpose8x2(v);
  idct_1d(v);
  descale(v, kConstBits + kPass1Bits + 3);
  bad = _mm512_or_si512(bad, outside(v, -512, 1024));
  transpose8x2(v);  // v[r]: row r of a, then of b
  // libjpeg's range limit: the low 10 bits as -512..511, + 128, clamped to 0..255.
  const __m512i center = _mm512_set1_epi32(128), zero = _mm512_setzero_si512(), max = _mm512_set1_epi32(255);
  for (int r = 0; r < 8; ++r) {
    __m512i x = _mm512_add_epi32(_mm512_srai_epi32(_mm512_slli_epi32(v[r], 22), 22), center);
    x = _mm512_min_epi32(_mm512_max_epi32(x, zero), max);
    const __m128i bytes = _mm512_cvtepi32_epi8(x);
    _mm_storel_epi64((__m128i*)(oa + r * sa), bytes);
    _mm_storel_epi64((__m128i*)(ob + r * sb), _mm_unpackhi_epi64(bytes, bytes));
  }
  return _mm512_test_epi32_mask(bad, bad) == 0;
}

// AVX2's mul_round_hi on 32 lanes: round(x k / 2^16) as libjpeg's tables round.
inline __attribute__((always_inline)) __m512i mul_round_hi(__m512i x, short k) {
  const __m512i kk = _mm512_set1_epi16(k);
  return _mm512_sub_epi16(_mm512_mulhi_epi16(x, kk), _mm512_srai_epi16(_mm512_mullo_epi16(x, kk), 15));
}

// ycc_rgb_avx2's arithmetic on 32 pixels a step; the bytes interleaved by two cross-lane byte
// permutes (AVX512-VBMI: Ice Lake, Zen 4 and later) into 96 contiguous bytes instead of AVX2's
// shuffles and four part stores per 16 pixels.
__attribute__((target("avx512vbmi"))) void ycc_rgb_avx512vbmi(const uint8_t* y, const uint8_t* cb, const uint8_t* cr,
                                                              uint8_t* rgb, int n) {
  const __m512i c128 = _mm512_set1_epi16(128), half = _mm512_set1_epi32(1 << 15);
  const __m512i g_mul = _mm512_set1_epi32((int)(((uint32_t)(uint16_t)-22554 << 16) | 18734u));  // (xr, xb) pairs
  // After the saturating packs, 128-bit lane L of rg holds R then G of pixels 8L..8L+7, of bb B
  // twice; output byte 3p + c is R, G or B of pixel p (indices of 64 and up select bb).
  struct Index {
    alignas(64) uint8_t at[2][64] = {};
    constexpr Index() {
      for (int o = 0; o < 96; ++o) {
        const int p = o / 3, c = o % 3, q = 16 * (p / 8) + p % 8;
        at[o / 64][o % 64] = (uint8_t)(c == 0 ? q : c == 1 ? q + 8 : 64 + q);
      }
    }
  };
  static constexpr Index index;
  const __m512i idx0 = _mm512_load_si512(index.at[0]), idx1 = _mm512_load_si512(index.at[1]);
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i yy = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)(y + i)));
    const __m512i xb = _mm512_sub_epi16(_mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)(cb + i))), c128);
    const __m512i xr = _mm512_sub_epi16(_mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)(cr + i))), c128);
    const __m512i r = _mm512_add_epi16(yy, _mm512_add_epi16(xr, mul_round_hi(xr, 26345)));
    const __m512i b = _mm512_add_epi16(yy, _mm512_add_epi16(_mm512_add_epi16(xb, xb), mul_round_hi(xb, -14942)));
    const __m512i lo = _mm512_add_epi32(_mm512_madd_epi16(_mm512_unpacklo_epi16(xr, xb), g_mul), half);
    const __m512i hi = _mm512_add_epi32(_mm512_madd_epi16(_mm512_unpackhi_epi16(xr, xb), g_mul), half);
    const __m512i gsum = _mm512_packs_epi32(_mm512_srai_epi32(lo, 16), _mm512_srai_epi32(hi, 16));
    const __m512i g = _mm512_add_epi16(yy, _mm512_sub_epi16(gsum, xr));
    const __m512i rg = _mm512_packus_epi16(r, g), bb = _mm512_packus_epi16(b, b);
    uint8_t* o = rgb + 3 * i;
    _mm512_storeu_si512((void*)o, _mm512_permutex2var_epi8(rg, idx0, bb));
    _mm256_storeu_si256((__m256i*)(o + 64), _mm512_castsi512_si256(_mm512_permutex2var_epi8(rg, idx1, bb)));
  }
  if (i < n) jpeg_pixels_avx2().ycc_rgb(y + i, cb + i, cr + i, rgb + 3 * i, n - i);  // the tail
}

bool have_vbmi() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vbmi");
}

}  // namespace

const JpegPixels& jpeg_pixels_avx512() {
  static const JpegPixels p = [] {
    JpegPixels q = jpeg_pixels_avx2();
    q.idct2 = idct2_avx512;
    if (have_vbmi()) q.ycc_rgb = ycc_rgb_avx512vbmi;
    return q;
  }();
  return p;
}

}  // namespace ds
