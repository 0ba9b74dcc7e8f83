// Per-thread scratch memory for kernels (im2col columns, packed GEMM panels): reused across
// calls so hot loops neither zero-fill nor page-fault fresh allocations every time. A slot grows
// to the largest size requested on that thread and is kept until the thread exits; contents are
// uninitialised. Each kernel uses its own slots, so nested kernel calls never share memory.
#pragma once
#include <cstdint>

namespace ds {

enum class ScratchSlot { conv_col = 0, conv_tmp = 1, gemm_a = 2, gemm_b = 3, count = 4 };

float* scratch(ScratchSlot slot, int64_t n);  // at least n floats, 64-byte aligned

}  // namespace ds
