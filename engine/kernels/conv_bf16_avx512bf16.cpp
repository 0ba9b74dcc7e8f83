// AVX512-BF16 instance of the bf16 convolution tiles (conv_bf16.h): vdpbf16ps multiplies 16 pairs
// of bf16 values and adds both products to 16 fp32 accumulators, so one instruction does twice
// the multiply-adds of an fp32 FMA on the same register. A tile holds M x NV accumulators, NV B
// vectors and one broadcast pair of A: 6 x 4 + 4 + 1 of the 32 zmm (as the fp32 tiles,
// brgemm_avx512.cpp), 8 x 3, 12 x 2, 14 x 1 for narrower blocks. Compiled with -mavx512bf16
// (CMakeLists.txt gives the flag to *_avx512bf16.cpp files only) and called only when
// has_bf16_kernels().
#include <immintrin.h>

#include <cstring>

#include "engine/kernels/conv_bf16.h"
#include "engine/kernels/lowp_epilogue_avx512.h"

namespace ds {

namespace {

template <int M, int NV>
void tile_mn(const Bf16Tile& t) {
  __m512 acc[M][NV];
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[m][v] = _mm512_setzero_ps();
  const uint16_t* b = t.b;
  for (int64_t kh = 0; kh < t.KH; ++kh) {
    const uint16_t* a[M];
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) a[m] = t.a_rows[m] + kh * t.a_ld;
    for (int64_t p = 0; p < t.kg; ++p, b += NV * 32) {
      __m512bh bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_loadu_si512(b + v * 32);
#pragma GCC unroll 16
      for (int m = 0; m < M; ++m) {
        int32_t pair;
        std::memcpy(&pair, a[m] + 2 * p, 4);
        const __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[m][v] = _mm512_dpbf16_ps(acc[m][v], av, bv[v]);
      }
    }
  }
  lowp_store_rows<M, NV>(t, [&](int m, int v) { return acc[m][v]; });
}

void tile(const Bf16Tile& t, int M, int NV) {
  switch (NV) {
    case 4: return tile_mn<6, 4>(t);
    case 3: return tile_mn<8, 3>(t);
    case 2: return tile_mn<12, 2>(t);
    default: return tile_mn<14, 1>(t);
  }
}

// to_bf16 on 16 floats: round to nearest even in integer arithmetic (as the scalar to_bf16, so
// the two agree bit for bit, denormals included; vcvtneps2bf16 would flush them), NaN kept quiet.
// GCC vector types rather than intrinsics: GCC 12's shift and narrowing intrinsics raise false
// -Wmaybe-uninitialized reports.
typedef uint32_t u32x16 __attribute__((vector_size(64)));
typedef uint16_t u16x16 __attribute__((vector_size(32)));

u16x16 round16(u32x16 u) {
  const u32x16 r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const u32x16 nan = (u & 0x7fffffffu) > 0x7f800000u;  // all ones where NaN
  return __builtin_convertvector((r & ~nan) | (((u >> 16) | 0x40u) & nan), u16x16);
}

void round(uint16_t* dst, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    u32x16 u;
    std::memcpy(&u, src + i, 64);
    const u16x16 r = round16(u);
    std::memcpy(dst + i, &r, 32);
  }
  for (; i < n; ++i) dst[i] = to_bf16(src[i]);
}

}  // namespace

const ConvBf16Kernels& conv_bf16_kernels_avx512bf16() {
  static const ConvBf16Kernels k = {.max_m = {0, 14, 12, 8, 6}, .tile = tile, .round = round};
  return k;
}

}  // namespace ds
