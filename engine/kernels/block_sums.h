// Per-channel sums taken over fixed blocks of rows in parallel, one row of double partials per
// block, then the blocks added in order: results that do not depend on the thread count. Shared
// by the BatchNorm kernels (blocks of pixels) and the convolutions' tile sums (blocks of tiles).
#pragma once
#include <algorithm>
#include <cstdint>

#include "base/int_math.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threading.h"

namespace ds {

// out[0, width) = the sum over blocks of block(partial, r0, r1), which writes `width` doubles for
// rows [r0, r1) of [0, rows), block rows at a time; `work` (elements) decides whether threads
// pay. The partials live in kernel scratch memory, so they are not faulted in afresh every call.
template <class Block>
void block_sums(int64_t rows, int64_t block, double work, int64_t width, double* out, Block f) {
  const int64_t blocks = ceil_div(rows, block);
  double* parts = reinterpret_cast<double*>(scratch(ScratchSlot::bn_partials, 2 * blocks * width));
#pragma omp parallel for schedule(static) if (use_threads(work, kMinParallelElements))
  for (int64_t b = 0; b < blocks; ++b) f(parts + b * width, b * block, std::min(rows, (b + 1) * block));
  for (int64_t c = 0; c < width; ++c) out[c] = 0;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t c = 0; c < width; ++c) out[c] += parts[b * width + c];
}

}  // namespace ds
