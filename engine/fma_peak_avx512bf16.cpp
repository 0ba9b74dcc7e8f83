// AVX512-BF16 dot-product chains for measured_bf16_dot_ratio (compiled with AVX512-BF16 flags;
// called only where has_bf16_kernels()).
#include <immintrin.h>

#include "engine/fma_peak.h"

namespace ds::fma_detail {

float bf16_chains_avx512bf16(int64_t iters) {
  // acc += a.even * b.even + a.odd * b.odd with a, b = 1/32: two products of 2^-10 a step, which
  // stop changing the sum once it passes ~2^14, so the values stay finite and normal however
  // long it runs.
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.03125f), _mm512_set1_ps(0.03125f));
  __m512 c[16];
  for (int j = 0; j < 16; ++j) c[j] = _mm512_set1_ps(0.1f * (float)j);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) c[j] = _mm512_dpbf16_ps(c[j], a, a);
  }
  __m512 s = c[0];
  for (int j = 1; j < 16; ++j) s = _mm512_add_ps(s, c[j]);
  alignas(64) float v[16];
  _mm512_store_ps(v, s);
  float t = 0;
  for (float x : v) t += x;
  return t;
}

}  // namespace ds::fma_detail
