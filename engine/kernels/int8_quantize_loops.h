// The int8 convolution's quantizing pass (conv_int8.h) on vectors, shared by its SIMD instances
// (AVX512-VNNI: 16 floats a vector, AVX-VNNI: 8): int8_quantize_vector is quantize_u8 on one GCC
// vector given the instance's fused multiply-add, and the loops feed it and finish the tail with
// quantize_u8 itself. Include only from the instances' ISA files.
#pragma once
#include <cstdint>
#include <cstring>

#include "engine/kernels/conv_int8.h"

namespace ds {

// quantize_u8 on one vector F32 of floats (I32, U8: the int32 and uint8 vectors of its width),
// with the same float operations: fma(src, inv, z) (the instance's instruction), clamp to 0..255
// (NaN -> 0), then round to nearest even by adding and subtracting 1.5 * 2^23 (exact for 0..255:
// the sum's last bit is the integer's), an exact truncating conversion, and a narrowing to bytes.
template <class F32, class I32, class U8, class Fma>
inline void int8_quantize_vector(uint8_t* dst, const float* src, F32 inv, F32 z, Fma fma) {
  const F32 magic = F32{} + 12582912.0f;
  F32 v;
  std::memcpy(&v, src, sizeof v);
  v = fma(v, inv, z);
  v = v > 0.0f ? v : 0.0f;
  v = v < 255.0f ? v : 255.0f;
  v = (v + magic) - magic;
  const U8 q = __builtin_convertvector(__builtin_convertvector(v, I32), U8);
  std::memcpy(dst, &q, sizeof q);
}

// One inverse scale and zero point for every element (per tensor).
template <class F32, class Quant>
inline void int8_quantize_uniform(uint8_t* dst, const float* src, int64_t n, float inv, float z, Quant q) {
  constexpr int64_t W = sizeof(F32) / sizeof(float);
  const F32 vinv = F32{} + inv, vz = F32{} + z;
  int64_t i = 0;
  for (; i + W <= n; i += W) q(dst + i, src + i, vinv, vz);
  for (; i < n; ++i) dst[i] = quantize_u8(src[i], inv, z);
}

// One per channel, for a run starting at channel 0: the vector at element i (channel i % C)
// loads its W of each from the patterns (C + 15 entries, [j] = [j % C]) at that phase.
template <class F32, class Quant>
inline void int8_quantize_channels(uint8_t* dst, const float* src, int64_t n, const float* inv_pattern,
                                   const float* z_pattern, int64_t C, Quant q) {
  constexpr int64_t W = sizeof(F32) / sizeof(float);
  static_assert(W <= 16, "the patterns hold C + 15 entries");
  const int64_t step = W % C;  // the phase moves by W channels a vector
  int64_t i = 0, phase = 0;
  for (; i + W <= n; i += W) {
    F32 vinv, vz;
    std::memcpy(&vinv, inv_pattern + phase, sizeof vinv);
    std::memcpy(&vz, z_pattern + phase, sizeof vz);
    q(dst + i, src + i, vinv, vz);
    phase += step;
    phase -= phase >= C ? C : 0;
  }
  for (; i < n; ++i) dst[i] = quantize_u8(src[i], inv_pattern[i % C], z_pattern[i % C]);
}

}  // namespace ds
