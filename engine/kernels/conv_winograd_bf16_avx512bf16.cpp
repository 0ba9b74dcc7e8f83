// The bf16 Winograd F(2x2, 3x3) input and output transforms (conv_winograd_bf16.h) on AVX-512,
// 16 channels a step: the shared additions (winograd_bf16_input_transform and _output_transform)
// on 16-float vectors, masked loads and stores at the channel tail. Compiled with AVX512-BF16
// flags and called only where has_bf16_kernels(), as the tiles that consume V.
#include <immintrin.h>

#include <cstring>

#include "engine/kernels/conv_winograd_bf16.h"

namespace ds {

namespace {

typedef float f32x16 __attribute__((vector_size(64)));

__mmask16 tail_mask(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }
f32x16 load(const float* p, __mmask16 k) { return (f32x16)_mm512_maskz_loadu_ps(k, p); }

void input_transform(uint16_t* V, int64_t ldv, const float* const* pix, int64_t C, int64_t Cp) {
  for (int64_t c0 = 0; c0 < Cp; c0 += 16) {
    const __mmask16 kin = tail_mask(C - c0 > 0 ? C - c0 : 0), kout = tail_mask(Cp - c0);
    f32x16 d[16], v[16];
    for (int p = 0; p < 16; ++p) d[p] = pix[p] ? load(pix[p] + c0, kin) : f32x16{};
    winograd_bf16_input_transform(d, v);
    // vcvtneps2bf16: round to nearest even as to_bf16, except that values below 2^-126 in
    // magnitude become 0 (to_bf16 keeps them, or rounds the largest up to 2^-126): a difference
    // of ~1e-38, well inside every tolerance. The integer rounding of conv_bf16_avx512bf16.cpp
    // (round16) took ~8 instructions per 16 values, half this pass's time.
    for (int xi = 0; xi < 16; ++xi)
      _mm256_mask_storeu_epi16(V + xi * ldv + c0, kout, (__m256i)_mm512_cvtneps_pbh((__m512)v[xi]));
  }
}

void output_transform(float* const* out, const float* M, int64_t ldm, int64_t OC, const float* bias,
                      const float* const* res, bool relu) {
  for (int64_t c0 = 0; c0 < OC; c0 += 16) {
    const __mmask16 k = tail_mask(OC - c0);
    f32x16 m[16], y[4];
    for (int xi = 0; xi < 16; ++xi) m[xi] = load(M + xi * ldm + c0, k);
    winograd_bf16_output_transform(m, y);
    const f32x16 b = bias ? load(bias + c0, k) : f32x16{};
    for (int p = 0; p < 4; ++p) {
      if (!out[p]) continue;
      f32x16 x = y[p] + b;
      if (res && res[p]) x += load(res[p] + c0, k);
      if (relu) x = x > 0.0f ? x : 0.0f;  // NaN -> 0, as the bf16 tiles' epilogue
      _mm512_mask_storeu_ps(out[p] + c0, k, (__m512)x);
    }
  }
}

}  // namespace

const WinogradBf16Transforms& winograd_bf16_transforms_avx512bf16() {
  static const WinogradBf16Transforms t{.input = &input_transform, .output = &output_transform};
  return t;
}

}  // namespace ds
