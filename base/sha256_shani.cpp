// SHA-256 blocks on the x86 SHA extensions (see sha256_blocks.h). Four rounds per step: the
// state lives in two registers as the instructions want it, ABEF and CDGH (A in the top lane), and
// sha256rnds2 does two rounds from the sum of two message words and their round constants, so each
// step runs it twice, the second time on the upper half of the four sums. The message schedule
// W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16] is sha256msg1 (the s0 part), an add of
// W[t-7..t-4], and sha256msg2 (the s1 part), four words at a time.
#include <cpuid.h>
#include <immintrin.h>

#include "base/sha256_blocks.h"

namespace ds {

bool sha256_shani_available() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1)) return false;
  return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
}

__attribute__((target("sha,sse4.1,ssse3"))) void sha256_blocks_shani(uint32_t h[8], const uint8_t* p, size_t blocks) {
  // Big-endian words: each 32-bit lane's bytes reversed.
  const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  const __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)), 0xB1);  // B A D C
  const __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 4)), 0x1B);
  __m128i abef = _mm_alignr_epi8(abcd, hgfe, 8);     // lanes F E B A: A on top
  __m128i cdgh = _mm_blend_epi16(hgfe, abcd, 0xF0);  // lanes H G D C
  for (; blocks > 0; --blocks, p += 64) {
    const __m128i abef0 = abef, cdgh0 = cdgh;
    __m128i m[4];
    for (int i = 0; i < 4; ++i)
      m[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i)), swap);
    for (int step = 0; step < 16; ++step) {
      __m128i& w = m[step % 4];  // W[4 step .. 4 step + 3], computed in place from the last four
      if (step >= 4) {
        const __m128i s0 = _mm_sha256msg1_epu32(w, m[(step + 1) % 4]);                // W[t-16] + s0(W[t-15])
        const __m128i t7 = _mm_alignr_epi8(m[(step + 3) % 4], m[(step + 2) % 4], 4);  // W[t-7 .. t-4]
        w = _mm_sha256msg2_epu32(_mm_add_epi32(s0, t7), m[(step + 3) % 4]);
      }
      __m128i wk = _mm_add_epi32(w, _mm_load_si128(reinterpret_cast<const __m128i*>(kSha256Round + 4 * step)));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);  // rounds 4 step, +1: the new ABEF; the old is the new CDGH
      wk = _mm_shuffle_epi32(wk, 0x0E);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, wk);  // rounds +2, +3
    }
    abef = _mm_add_epi32(abef, abef0);
    cdgh = _mm_add_epi32(cdgh, cdgh0);
  }
  const __m128i abef_r = _mm_shuffle_epi32(abef, 0x1B);                                     // A B E F
  const __m128i cdgh_r = _mm_shuffle_epi32(cdgh, 0xB1);                                     // G H C D
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h), _mm_blend_epi16(abef_r, cdgh_r, 0xF0));   // A B C D
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h + 4), _mm_alignr_epi8(cdgh_r, abef_r, 8));  // E F G H
}

}  // namespace ds
