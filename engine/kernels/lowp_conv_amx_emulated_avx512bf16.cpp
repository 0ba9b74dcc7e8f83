// The AMX tiles (lowp_amx_tiles.inc) on emulated tile registers: plain loops with the Intel SDM's
// arithmetic for tdpbf16ps (per C element, for each pair k in order, + a[2k] * b[2k] then
// + a[2k+1] * b[2k+1], each product exact in fp32) and tdpbusd (per C element, the four u8 x s8
// products of each group summed exactly into int32, wrapping), so that the tile's addressing, the
// packed weights' layout and the copies for uneven pixels and short group runs are tested on any
// AVX-512 CPU (tests/test_bf16.cpp, tests/test_int8.cpp); the hardware instances are
// lowp_conv_amx.cpp's. Slow.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/kernels/conv_bf16.h"
#include "engine/kernels/conv_int8.h"
#include "engine/kernels/lowp_epilogue_avx512.h"

// The tile, templated on the unit defined below.
#include "engine/kernels/lowp_amx_tiles.inc"

namespace ds {
namespace {

struct AmxEmulated {
  static thread_local uint8_t regs[6][16][64];
  static void configure() {}
  template <int T>
  static void zero() {
    std::memset(regs[T], 0, sizeof regs[T]);
  }
  template <int T>
  static void load(const void* p, int64_t stride) {
    for (int r = 0; r < 16; ++r) std::memcpy(regs[T][r], (const uint8_t*)p + r * stride, 64);
  }
  template <int T>
  static void store(void* p, int64_t stride) {
    for (int r = 0; r < 16; ++r) std::memcpy((uint8_t*)p + r * stride, regs[T][r], 64);
  }
  // C += tmm4 . tmm5, element (m, n) from row m of A's and column n of B's 16 groups through
  // acc(c, a group, b group) on C's 4 bytes.
  template <int C, class Acc>
  static void dot_with(Acc acc) {
    for (int m = 0; m < 16; ++m)
      for (int n = 0; n < 16; ++n)
        for (int k = 0; k < 16; ++k) acc(regs[C][m] + 4 * n, regs[4][m] + 4 * k, regs[5][k] + 4 * n);
  }
};
thread_local uint8_t AmxEmulated::regs[6][16][64];

struct AmxEmulatedBf16 : AmxEmulated, AmxFloatSums {
  static float f32(const uint8_t* p) {  // a bf16's bits as the fp32 it stands for
    uint16_t h;
    std::memcpy(&h, p, 2);
    const uint32_t u = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  template <int C>
  static void dot() {
    dot_with<C>([](uint8_t* c, const uint8_t* a, const uint8_t* b) {
      float v;
      std::memcpy(&v, c, 4);
      v += f32(a) * f32(b);
      v += f32(a + 2) * f32(b + 2);
      std::memcpy(c, &v, 4);
    });
  }
};

struct AmxEmulatedInt8 : AmxEmulated, AmxIntSums {
  template <int C>
  static void dot() {
    dot_with<C>([](uint8_t* c, const uint8_t* a, const uint8_t* b) {
      uint32_t v;
      std::memcpy(&v, c, 4);
      for (int i = 0; i < 4; ++i) v += (uint32_t)((int32_t)a[i] * (int32_t)(int8_t)b[i]);
      std::memcpy(c, &v, 4);
    });
  }
};

}  // namespace

const ConvBf16Kernels& conv_bf16_kernels_amx_emulated() {
  static const ConvBf16Kernels k = amx_bf16_kernels<AmxEmulatedBf16>();
  return k;
}

const ConvInt8Kernels& conv_int8_kernels_amx_emulated() {
  static const ConvInt8Kernels k = amx_int8_kernels<AmxEmulatedInt8>();
  return k;
}

}  // namespace ds
