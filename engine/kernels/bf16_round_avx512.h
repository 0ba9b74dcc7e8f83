// to_bf16 (conv_bf16.h) on 16 floats at once, for the AVX-512 bf16 code (*_avx512bf16.cpp):
// round to nearest even in integer arithmetic, as the scalar to_bf16, so the two agree bit for
// bit, denormals included (vcvtneps2bf16 would flush them); NaN kept quiet. GCC vector types
// rather than intrinsics: GCC 12's shift and narrowing intrinsics raise false
// -Wmaybe-uninitialized reports.
#pragma once
#include <cstdint>

namespace ds {

typedef uint32_t bf16_u32x16 __attribute__((vector_size(64)));
typedef uint16_t bf16_u16x16 __attribute__((vector_size(32)));

inline bf16_u16x16 bf16_round16(bf16_u32x16 u) {
  const bf16_u32x16 r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const bf16_u32x16 nan = (u & 0x7fffffffu) > 0x7f800000u;  // all ones where NaN
  return __builtin_convertvector((r & ~nan) | (((u >> 16) | 0x40u) & nan), bf16_u16x16);
}

}  // namespace ds
