// The AVX2 instance of jpeg_pixels.h: the same arithmetic as the plain loops, eight 32-bit lanes
// at a time (the IDCT: a column pass over the block's rows, a transpose, a row pass, a transpose
// back). Equal to them for every block inside the IDCT's range check (JpegPixels::idct): the plain
// loops compute libjpeg's 64-bit products, these 32-bit ones, which cannot overflow there. An
// upsampled row's ends are computed a sample at a time, a conversion's tail by the plain loop.
#include <immintrin.h>

#include <algorithm>

#include "slide/reader/jpeg_idct_1d.h"
#include "slide/reader/jpeg_pixels.h"

namespace ds {

namespace {

constexpr int kConstBits = kIdctConstBits, kPass1Bits = kIdctPass1Bits;

typedef int32_t v8si __attribute__((vector_size(32)));

// jidctint.c's 1-D IDCT (jpeg_idct_1d.h) on 8 lanes, in place.
inline __attribute__((always_inline)) void idct_1d(__m256i* v) {
  v8si w[8];
  for (int k = 0; k < 8; ++k) w[k] = (v8si)v[k];
  idct_1d_islow(w);
  for (int k = 0; k < 8; ++k) v[k] = (__m256i)w[k];
}

inline __attribute__((always_inline)) void descale(__m256i* v, int n) {
  const __m256i half = _mm256_set1_epi32(1 << (n - 1));
  for (int k = 0; k < 8; ++k) v[k] = _mm256_srai_epi32(_mm256_add_epi32(v[k], half), n);
}

inline __attribute__((always_inline)) void transpose8(__m256i* v) {
  __m256i t[8], u[8];
  for (int k = 0; k < 8; k += 2) {
    t[k] = _mm256_unpacklo_epi32(v[k], v[k + 1]);
    t[k + 1] = _mm256_unpackhi_epi32(v[k], v[k + 1]);
  }
  for (int k = 0; k < 8; k += 4) {
    u[k] = _mm256_unpacklo_epi64(t[k], t[k + 2]);
    u[k + 1] = _mm256_unpackhi_epi64(t[k], t[k + 2]);
    u[k + 2] = _mm256_unpacklo_epi64(t[k + 1], t[k + 3]);
    u[k + 3] = _mm256_unpackhi_epi64(t[k + 1], t[k + 3]);
  }
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_permute2x128_si256(u[k], u[k + 4], 0x20);
    v[k + 4] = _mm256_permute2x128_si256(u[k], u[k + 4], 0x31);
  }
}

// Lanes where some v[k] lies outside [lo, lo + span), span a power of two: v - lo has bits at or
// above span's exactly then (an add and an OR per vector instead of two compares).
inline __attribute__((always_inline)) __m256i outside(const __m256i* v, int lo, int span) {
  const __m256i neg_lo = _mm256_set1_epi32(-lo);
  __m256i acc = _mm256_setzero_si256();
  for (int k = 0; k < 8; ++k) acc = _mm256_or_si256(acc, _mm256_add_epi32(v[k], neg_lo));
  return _mm256_and_si256(acc, _mm256_set1_epi32(-span));
}

bool idct_avx2(const int16_t* coef, const int16_t* quant, uint8_t* out, size_t stride) {
  constexpr int kLimit = 1 << 14;  // see JpegPixels::idct
  __m256i v[8];
  for (int r = 0; r < 8; ++r) {  // lanes: columns
    const __m256i c = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i*)(coef + 8 * r)));
    const __m256i q = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i*)(quant + 8 * r)));
    v[r] = _mm256_mullo_epi32(c, q);
  }
  __m256i bad = outside(v, -kLimit, 2 * kLimit);
  idct_1d(v);
  descale(v, kConstBits - kPass1Bits);
  bad = _mm256_or_si256(bad, outside(v, -kLimit, 2 * kLimit));
  transpose8(v);  // lanes: rows
  idct_1d(v);
  descale(v, kConstBits + kPass1Bits + 3);
  bad = _mm256_or_si256(bad, outside(v, -512, 1024));
  transpose8(v);  // v[r]: output row r
  // libjpeg's range limit: the low 10 bits as -512..511, + 128, clamped by the saturating packs.
  const __m256i center = _mm256_set1_epi32(128);
  for (int r = 0; r < 8; ++r) v[r] = _mm256_add_epi32(_mm256_srai_epi32(_mm256_slli_epi32(v[r], 22), 22), center);
  for (int r = 0; r < 8; r += 4) {
    const __m256i a = _mm256_packs_epi32(v[r], v[r + 1]), b = _mm256_packs_epi32(v[r + 2], v[r + 3]);
    // 32-bit words: r0[0..3] r1[0..3] r2[0..3] r3[0..3] | r0[4..7] r1[4..7] r2[4..7] r3[4..7]
    const __m256i p = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(a, b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    const __m128i lo = _mm256_castsi256_si128(p), hi = _mm256_extracti128_si256(p, 1);
    _mm_storel_epi64((__m128i*)(out + r * stride), lo);
    _mm_storel_epi64((__m128i*)(out + (r + 1) * stride), _mm_unpackhi_epi64(lo, lo));
    _mm_storel_epi64((__m128i*)(out + (r + 2) * stride), hi);
    _mm_storel_epi64((__m128i*)(out + (r + 3) * stride), _mm_unpackhi_epi64(hi, hi));
  }
  return _mm256_testz_si256(bad, bad);
}

// Columns [c0, c1) of an upsampled row of in_w samples: vector steps of 32 outputs (16 samples,
// each with both neighbours inside the row: even columns from 2 on), the last one ending where the
// row or the output allows over outputs the one before wrote already (the same values again); the
// ends and rows shorter than a step one column at a time. step(c) writes out[c - c0 ..] (32
// bytes, reading samples c/2 - 1 .. c/2 + 16), at(c) returns column c.
template <class Step, class At>
inline __attribute__((always_inline)) void upsample_row(int in_w, int c0, int c1, uint8_t* out, Step step, At at) {
  int c = std::min(c1, std::max(2, c0 + (c0 & 1)));
  for (int e = c0; e < c; ++e) out[e - c0] = at(e);
  for (; c + 32 <= c1 && (c >> 1) + 17 <= in_w; c += 32) step(c);
  const int last = std::min(c1 - 32, 2 * (in_w - 17)) & ~1;
  if (c < c1 && last + 32 > c && last >= std::max(2, c0)) {
    step(last);
    c = last + 32;
  }
  for (; c < c1; ++c) out[c - c0] = at(c);
}

inline __attribute__((always_inline)) __m256i load16(const uint8_t* p) {
  return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i*)p));
}

// Even columns in the low byte of each lane, odd ones in the high byte: 32 output bytes.
inline __attribute__((always_inline)) void store_pairs(uint8_t* out, __m256i even, __m256i odd) {
  _mm256_storeu_si256((__m256i*)out, _mm256_or_si256(even, _mm256_slli_epi16(odd, 8)));
}

void upsample_h2v1_avx2(const uint8_t* in, int in_w, int c0, int c1, uint8_t* out) {
  const __m256i one = _mm256_set1_epi16(1), two = _mm256_set1_epi16(2);
  auto step = [&](int at) {
    const int i = at >> 1;
    const __m256i cur = load16(in + i), prev = load16(in + i - 1), next = load16(in + i + 1);
    const __m256i c3 = _mm256_add_epi16(cur, _mm256_add_epi16(cur, cur));
    const __m256i even = _mm256_srli_epi16(_mm256_add_epi16(c3, _mm256_add_epi16(prev, one)), 2);
    const __m256i odd = _mm256_srli_epi16(_mm256_add_epi16(c3, _mm256_add_epi16(next, two)), 2);
    store_pairs(out + (at - c0), even, odd);
  };
  upsample_row(in_w, c0, c1, out, step, [&](int c) { return upsample_h2v1_at(in, in_w, c); });
}

// Column sums 3 near + far in 16-bit lanes (at most 1020), then h2v1's weights with h2v2's rounding.
void upsample_h2v2_avx2(const uint8_t* near, const uint8_t* far, int in_w, int c0, int c1, uint8_t* out) {
  const __m256i seven = _mm256_set1_epi16(7), eight = _mm256_set1_epi16(8);
  auto colsum = [](const uint8_t* n, const uint8_t* f) {
    const __m256i v = load16(n);
    return _mm256_add_epi16(_mm256_add_epi16(v, _mm256_add_epi16(v, v)), load16(f));
  };
  auto step = [&](int at) {
    const int i = at >> 1;
    const __m256i cur = colsum(near + i, far + i), prev = colsum(near + i - 1, far + i - 1);
    const __m256i next = colsum(near + i + 1, far + i + 1);
    const __m256i c3 = _mm256_add_epi16(cur, _mm256_add_epi16(cur, cur));
    const __m256i even = _mm256_srli_epi16(_mm256_add_epi16(c3, _mm256_add_epi16(prev, eight)), 4);
    const __m256i odd = _mm256_srli_epi16(_mm256_add_epi16(c3, _mm256_add_epi16(next, seven)), 4);
    store_pairs(out + (at - c0), even, odd);
  };
  upsample_row(in_w, c0, c1, out, step, [&](int c) { return upsample_h2v2_at(near, far, in_w, c); });
}

// floor((k x + 32768) / 65536) in 16-bit lanes, exactly: the product's high half, plus one when
// its low half is at least 32768 (negative as a signed 16-bit value).
inline __attribute__((always_inline)) __m256i mul_round_hi(__m256i x, short k) {
  const __m256i kk = _mm256_set1_epi16(k);
  return _mm256_sub_epi16(_mm256_mulhi_epi16(x, kk), _mm256_srai_epi16(_mm256_mullo_epi16(x, kk), 15));
}

// 16 pixels a step in 16-bit lanes. With x = Cr - 128 (R), Cb - 128 (B): 91881 = 65536 + 26345
// and 116130 = 131072 - 14942 leave 16-bit multipliers; G's two products are summed in 32 bits
// (-46802 = -65536 + 18734). The same integers as the tables of the plain loops.
void ycc_rgb_avx2(const uint8_t* y, const uint8_t* cb, const uint8_t* cr, uint8_t* rgb, int n) {
  const __m256i c128 = _mm256_set1_epi16(128), half = _mm256_set1_epi32(1 << 15);
  const __m256i g_mul = _mm256_set1_epi32((int)(((uint32_t)(uint16_t)-22554 << 16) | 18734u));  // (xr, xb) pairs
  // Per 128-bit half (8 pixels): bytes of RG = R0..R7 G0..G7 and BB = B0..B7 (twice) to
  // R0 G0 B0 R1 ... (16 bytes, then 8).
  const __m256i rg_a = _mm256_setr_epi8(0, 8, -1, 1, 9, -1, 2, 10, -1, 3, 11, -1, 4, 12, -1, 5, 0, 8, -1, 1, 9, -1, 2,
                                        10, -1, 3, 11, -1, 4, 12, -1, 5);
  const __m256i bb_a = _mm256_setr_epi8(-1, -1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1, -1, -1, 0, -1, -1, 1,
                                        -1, -1, 2, -1, -1, 3, -1, -1, 4, -1);
  const __m256i rg_b = _mm256_setr_epi8(13, -1, 6, 14, -1, 7, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, 13, -1, 6, 14, -1,
                                        7, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i bb_b = _mm256_setr_epi8(-1, 5, -1, -1, 6, -1, -1, 7, -1, -1, -1, -1, -1, -1, -1, -1, -1, 5, -1, -1, 6,
                                        -1, -1, 7, -1, -1, -1, -1, -1, -1, -1, -1);
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i yy = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i*)(y + i)));
    const __m256i xb = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i*)(cb + i))), c128);
    const __m256i xr = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i*)(cr + i))), c128);
    const __m256i r = _mm256_add_epi16(yy, _mm256_add_epi16(xr, mul_round_hi(xr, 26345)));
    const __m256i b = _mm256_add_epi16(yy, _mm256_add_epi16(_mm256_add_epi16(xb, xb), mul_round_hi(xb, -14942)));
    const __m256i lo = _mm256_add_epi32(_mm256_madd_epi16(_mm256_unpacklo_epi16(xr, xb), g_mul), half);
    const __m256i hi = _mm256_add_epi32(_mm256_madd_epi16(_mm256_unpackhi_epi16(xr, xb), g_mul), half);
    const __m256i gsum = _mm256_packs_epi32(_mm256_srai_epi32(lo, 16), _mm256_srai_epi32(hi, 16));
    const __m256i g = _mm256_add_epi16(yy, _mm256_sub_epi16(gsum, xr));
    // Saturating packs clamp to 0..255; each 128-bit half then holds its 8 pixels.
    const __m256i rgp = _mm256_packus_epi16(r, g), bbp = _mm256_packus_epi16(b, b);
    const __m256i first = _mm256_or_si256(_mm256_shuffle_epi8(rgp, rg_a), _mm256_shuffle_epi8(bbp, bb_a));
    const __m256i second = _mm256_or_si256(_mm256_shuffle_epi8(rgp, rg_b), _mm256_shuffle_epi8(bbp, bb_b));
    uint8_t* o = rgb + 3 * i;
    _mm_storeu_si128((__m128i*)o, _mm256_castsi256_si128(first));
    _mm_storel_epi64((__m128i*)(o + 16), _mm256_castsi256_si128(second));
    _mm_storeu_si128((__m128i*)(o + 24), _mm256_extracti128_si256(first, 1));
    _mm_storel_epi64((__m128i*)(o + 40), _mm256_extracti128_si256(second, 1));
  }
  if (i < n) jpeg_pixels_generic().ycc_rgb(y + i, cb + i, cr + i, rgb + 3 * i, n - i);  // the tail
}

}  // namespace

const JpegPixels& jpeg_pixels_avx2() {
  static const JpegPixels p{idct_avx2, idct_each<idct_avx2>, upsample_h2v1_avx2, upsample_h2v2_avx2, ycc_rgb_avx2};
  return p;
}

}  // namespace ds
