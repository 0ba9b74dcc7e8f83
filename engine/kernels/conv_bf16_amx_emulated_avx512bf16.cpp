// The AMX-BF16 tile (conv_bf16_amx_tiles.inc) on emulated tile registers: plain loops with
// tdpbf16ps's arithmetic (Intel SDM: per C element, for each pair k in order, + a[2k] * b[2k]
// then + a[2k+1] * b[2k+1], each product exact in fp32), so the tile's addressing, the packed
// weights' layout and the copies for uneven pixels and short pair runs are tested on any
// AVX-512 CPU (tests/test_bf16.cpp); the hardware instance is conv_bf16_amx.cpp. Not fast.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/kernels/conv_bf16.h"
#include "engine/kernels/lowp_epilogue_avx512.h"

namespace ds {
namespace {

struct AmxEmulated {
  static thread_local uint8_t regs[8][16][64];
  static float f32(uint16_t bits) {
    const uint32_t u = (uint32_t)bits << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  static void configure() {}
  template <int T>
  static void zero() {
    std::memset(regs[T], 0, sizeof regs[T]);
  }
  template <int T>
  static void load(const void* p, int64_t stride) {
    for (int r = 0; r < 16; ++r) std::memcpy(regs[T][r], (const uint8_t*)p + r * stride, 64);
  }
  template <int C, int A, int B>
  static void dot() {
    for (int m = 0; m < 16; ++m)
      for (int n = 0; n < 16; ++n) {
        float c;
        std::memcpy(&c, regs[C][m] + 4 * n, 4);
        for (int k = 0; k < 16; ++k) {
          uint16_t a[2], b[2];
          std::memcpy(a, regs[A][m] + 4 * k, 4);
          std::memcpy(b, regs[B][k] + 4 * n, 4);
          c += f32(a[0]) * f32(b[0]);
          c += f32(a[1]) * f32(b[1]);
        }
        std::memcpy(regs[C][m] + 4 * n, &c, 4);
      }
  }
  template <int T>
  static void store(void* p, int64_t stride) {
    for (int r = 0; r < 16; ++r) std::memcpy((uint8_t*)p + r * stride, regs[T][r], 64);
  }
};
thread_local uint8_t AmxEmulated::regs[8][16][64];

}  // namespace
}  // namespace ds

#include "engine/kernels/conv_bf16_amx_tiles.inc"

namespace ds {

const ConvBf16Kernels& conv_bf16_kernels_amx_emulated() {
  static const ConvBf16Kernels k = {.max_m = {0, kAmxRows, kAmxRows, kAmxRows, kAmxRows},
                                    .tile = amx_bf16_tile<AmxEmulated>,
                                    .round = conv_bf16_kernels_avx512bf16().round};
  return k;
}

}  // namespace ds
