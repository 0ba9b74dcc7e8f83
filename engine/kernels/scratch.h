// Per-thread scratch memory for kernels (padded images, packed weights and GEMM panels): reused across
// calls so hot loops neither zero-fill nor page-fault fresh allocations every time. A slot grows
// to the largest size requested on that thread and is kept until the thread exits; contents are
// uninitialised. Each kernel uses its own slots, so nested kernel calls never share memory.
#pragma once
#include <cstdint>

namespace ds {

enum class ScratchSlot {
  conv_pad = 0,   // zero-padded NHWC image (input, or output gradient)
  conv_wpack,     // packed weights
  conv_bpack,     // output gradient padded to whole vectors (or spaced apart)
  bn_partials,    // BatchNorm per-block channel sums (doubles)
  gemm_a,
  gemm_b,
  count
};

float* scratch(ScratchSlot slot, int64_t n);  // at least n floats, 64-byte aligned

}  // namespace ds
