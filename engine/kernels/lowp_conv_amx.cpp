// AMX instances of the reduced-precision convolution tiles (lowp_amx_tiles.inc on the hardware's
// tile registers): AMX-BF16 for conv_bf16.h, AMX-INT8 for conv_int8.h. Compiled with the AMX
// flags (CMakeLists.txt: *_amx.cpp files) and called only when has_amx_bf16_kernels() /
// has_amx_int8_kernels() (engine/cpu_features.h), which also ask Linux for the tile state.
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

// The tile registers as the hardware holds them: palette 1, tmm0-5 16 rows x 64 bytes. GCC's AMX
// intrinsics paste the register number into the instruction's text: each needs a literal, hence
// the switches (on template constants, so they compile away).
struct AmxHardware {
  static void configure() {
    thread_local bool done = false;  // the configuration is per thread and stays loaded
    if (done) return;
    alignas(64) uint8_t cfg[64] = {};
    cfg[0] = 1;  // palette 1
    for (int t = 0; t < 6; ++t) {
      cfg[16 + 2 * t] = 64;  // colsb[t] (little-endian uint16)
      cfg[48 + t] = 16;      // rows[t]
    }
    _tile_loadconfig(cfg);
    done = true;
  }
  template <int T>
  static void zero() {
    switch (T) {
      case 0: _tile_zero(0); break;
      case 1: _tile_zero(1); break;
      case 2: _tile_zero(2); break;
      default: _tile_zero(3); break;
    }
  }
  template <int T>
  static void load(const void* p, int64_t stride) {
    static_assert(T == 4 || T == 5, "A is tmm4, B tmm5");
    // GCC 12's tileloadd is an asm that takes the address but declares no memory read: without
    // this barrier the copies into the tile's local buffers could be dropped as dead stores.
    __asm__ volatile("" ::: "memory");
    if (T == 4) _tile_loadd(4, p, stride);
    else _tile_loadd(5, p, stride);
  }
  template <int T>
  static void store(void* p, int64_t stride) {
    switch (T) {
      case 0: _tile_stored(0, p, stride); break;
      case 1: _tile_stored(1, p, stride); break;
      case 2: _tile_stored(2, p, stride); break;
      default: _tile_stored(3, p, stride); break;
    }
  }
};

struct AmxBf16 : AmxHardware, AmxFloatSums {
  template <int C>
  static void dot() {
    switch (C) {
      case 0: _tile_dpbf16ps(0, 4, 5); break;
      case 1: _tile_dpbf16ps(1, 4, 5); break;
      case 2: _tile_dpbf16ps(2, 4, 5); break;
      default: _tile_dpbf16ps(3, 4, 5); break;
    }
  }
};

struct AmxInt8 : AmxHardware, AmxIntSums {
  template <int C>
  static void dot() {
    switch (C) {
      case 0: _tile_dpbusd(0, 4, 5); break;
      case 1: _tile_dpbusd(1, 4, 5); break;
      case 2: _tile_dpbusd(2, 4, 5); break;
      default: _tile_dpbusd(3, 4, 5); break;
    }
  }
};

}  // namespace

const ConvBf16Kernels& conv_bf16_kernels_amx() {
  static const ConvBf16Kernels k = amx_bf16_kernels<AmxBf16>();
  return k;
}

const ConvInt8Kernels& conv_int8_kernels_amx() {
  static const ConvInt8Kernels k = amx_int8_kernels<AmxInt8>();
  return k;
}

}  // namespace ds
