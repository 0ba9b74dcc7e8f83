// The max-pooling row loop (pooling.cpp), compiled once per ISA from pool_loops.inc
// (pool_loops_avx512.cpp, pool_loops_avx2.cpp, pool_loops_generic.cpp) and picked at run time:
// a compare and a select per channel and window tap (for the stem's 3-wide stride-2 windows in
// inference on the AVX2 and AVX-512 builds, one vmaxps per pixel loaded once per output row),
// which the baseline SSE2 build runs four channels at a time and the AVX-512 build sixteen
// (ResNet's stem pool, 64 channels of a 112 x 112 map per image, is memory-light enough for that
// to show: ~6% of an int8 forward before).
#pragma once
#include <cstdint>

#include "engine/cpu_features.h"
#include "engine/kernels/pooling.h"

namespace ds {

struct PoolLoops {
  // Output row r (image r / OH, row r % OH) of the max pool: each window's maximum (a NaN wins)
  // into out, and with argmax (may be null) its first position, row-major in the window, as
  // ih * W + iw.
  void (*max_row)(float* out, int32_t* argmax, const float* in, const PoolDims& d, int64_t r);
  // The same on uint8 codes (an int8 chain's pool, maxpool2d_band_codes), no argmax: output pixel
  // ow's C codes into out[ow] (null: not wanted).
  void (*max_row_codes)(uint8_t* const* out, const uint8_t* in, const PoolDims& d, int64_t r);
};

const PoolLoops& pool_loops(Isa isa);
inline const PoolLoops& pool_loops() { return pool_loops(cpu_isa()); }

const PoolLoops& pool_loops_avx512();
const PoolLoops& pool_loops_avx2();
const PoolLoops& pool_loops_generic();

}  // namespace ds
