// AVX512-VNNI dot-product chains for measured_int8_dot_ratio (compiled with AVX512-VNNI flags;
// called only where has_avx512_vnni_kernels()).
#include <immintrin.h>

#include <cstdint>

#include "engine/fma_peak.h"

namespace ds::fma_detail {

float int8_chains_avx512vnni(int64_t iters) {
  // acc += 1 * 1 + 1 * (-1) + 1 * 1 + 1 * (-1) per lane: four products a step that cancel, so the
  // int32 sums never overflow however long it runs (the instruction's speed does not depend on
  // the values).
  const __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi16((short)0xff01);  // bytes 1, -1
  __m512i c[16];
  for (int j = 0; j < 16; ++j) c[j] = _mm512_set1_epi32(j);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) c[j] = _mm512_dpbusd_epi32(c[j], a, b);
  }
  __m512i s = c[0];
  for (int j = 1; j < 16; ++j) s = _mm512_add_epi32(s, c[j]);
  alignas(64) int32_t v[16];
  _mm512_store_si512(v, s);
  int64_t t = 0;
  for (int32_t x : v) t += x;
  return (float)t;
}

}  // namespace ds::fma_detail
