// AVX-VNNI instance of the int8 convolution tiles (conv_int8.h): the VEX-encoded vpdpbusd on
// 256-bit registers (Intel Alder Lake and later, AMD Zen 5), for CPUs that have it without
// AVX512-VNNI or run capped at the avx2 path. Each instruction multiplies 32 unsigned bytes of A
// by 32 signed bytes of B and adds each group of four products to one of 8 int32 accumulators,
// exactly, so the results equal the AVX512-VNNI tiles' and the twin's bit for bit. A tile is 6
// pixels x 16 output channels (12 accumulators, 2 B registers, 1 broadcast of A: 15 of the 16
// registers), run once per vector of 16 channels of the packed block. Compiled with -mavxvnni
// (CMakeLists.txt gives it to *_avxvnni.cpp files only) and called only when has_avx_vnni_kernels().
#include <immintrin.h>

#include <cstring>

#include "engine/kernels/conv_int8.h"
#include "engine/kernels/int8_quantize_loops.h"
#include "engine/kernels/lowp_epilogue_avx2.h"

namespace ds {

namespace {

// GCC vector types for the conversions rather than intrinsics: GCC 12's conversion intrinsics
// raise false -Wmaybe-uninitialized reports (as in conv_bf16_avx512bf16.cpp).
typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));
typedef uint8_t u8x8 __attribute__((vector_size(8)));

constexpr int kTileM = 6;

// Pixels x the 16 channels of vector v of the block: B's group p of that vector is the 64 bytes at
// v * 64 in the group's NV * 64.
template <int M>
void tile_v(const Int8Tile& t, int NV, int v) {
  __m256i acc[M][2];
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) acc[m][0] = acc[m][1] = _mm256_setzero_si256();
  const int64_t step = (int64_t)NV * 64;
  const int8_t* b = t.b + v * 64;
  for (int64_t kh = 0; kh < t.KH; ++kh) {
    const uint8_t* a[M];
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) a[m] = t.a_rows[m] + kh * t.a_ld;
    for (int64_t p = 0; p < t.kg; ++p, b += step) {
      const __m256i b0 = _mm256_loadu_si256((const __m256i*)b), b1 = _mm256_loadu_si256((const __m256i*)(b + 32));
#pragma GCC unroll 16
      for (int m = 0; m < M; ++m) {
        int32_t quad;
        std::memcpy(&quad, a[m] + 4 * p, 4);
        const __m256i av = _mm256_set1_epi32(quad);
        acc[m][0] = _mm256_dpbusd_avx_epi32(acc[m][0], av, b0);
        acc[m][1] = _mm256_dpbusd_avx_epi32(acc[m][1], av, b1);
      }
    }
  }
  lowp_store_rows_avx2<M, 2>(t, (int64_t)v * 16, [&](int m, int h) {  // vcvtdq2ps, to nearest
    return (__m256) __builtin_convertvector((i32x8)acc[m][h], f32x8);
  });
}

void tile(const Int8Tile& t, int /*M == kTileM*/, int NV) {
  for (int v = 0; v < NV && v * 16 < t.N; ++v) tile_v<kTileM>(t, NV, v);  // vectors past N hold padding
}

// quantize_u8 on 8 floats (int8_quantize_loops.h).
inline void quantize8(uint8_t* dst, const float* src, f32x8 inv, f32x8 z) {
  int8_quantize_vector<f32x8, i32x8, u8x8>(dst, src, inv, z, [](f32x8 a, f32x8 b, f32x8 c) {
    return (f32x8)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
  });
}

void quantize(uint8_t* dst, const float* src, int64_t n, float inv, float z) {
  int8_quantize_uniform<f32x8>(dst, src, n, inv, z, quantize8);
}

void quantize_channels(uint8_t* dst, const float* src, int64_t n, const float* inv_pattern, const float* z_pattern,
                       int64_t C) {
  int8_quantize_channels<f32x8>(dst, src, n, inv_pattern, z_pattern, C, quantize8);
}

}  // namespace

const ConvInt8Kernels& conv_int8_kernels_avxvnni() {
  static const ConvInt8Kernels k = {.max_m = {0, kTileM, kTileM, kTileM, kTileM},
                                    .tile = tile,
                                    .quantize = quantize,
                                    .quantize_channels = quantize_channels};
  return k;
}

}  // namespace ds
