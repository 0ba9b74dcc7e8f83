// Blocked 2-D transposes (see layout.h), in 32 x 32 blocks so both sides stay in cache, and the
// layout conversions built on them: NCHW <-> NHWC and the convolution weight reorders.
#include "engine/kernels/layout.h"

#include <algorithm>

#include "engine/kernels/threading.h"

namespace ds {

constexpr int64_t kTile = 32;

void transpose_2d(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t rows, int64_t cols, bool accumulate) {
  for (int64_t i0 = 0; i0 < rows; i0 += kTile)
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const int64_t i1 = std::min(rows, i0 + kTile), j1 = std::min(cols, j0 + kTile);
      for (int64_t j = j0; j < j1; ++j)
        for (int64_t i = i0; i < i1; ++i) {
          if (accumulate) dst[j * ldd + i] += src[i * lds + j];
          else dst[j * ldd + i] = src[i * lds + j];
        }
    }
}

void nchw_to_nhwc(float* out, const float* in, int64_t N, int64_t C, int64_t HW, bool accumulate) {
#pragma omp parallel for schedule(static) if (use_threads(N * C * HW, kMinParallelElements))
  for (int64_t n = 0; n < N; ++n) transpose_2d(out + n * C * HW, C, in + n * C * HW, HW, C, HW, accumulate);
}

void nhwc_to_nchw(float* out, const float* in, int64_t N, int64_t C, int64_t HW, bool accumulate) {
#pragma omp parallel for schedule(static) if (use_threads(N * C * HW, kMinParallelElements))
  for (int64_t n = 0; n < N; ++n) transpose_2d(out + n * C * HW, HW, in + n * C * HW, C, HW, C, accumulate);
}

// Per input channel c, in[:, c, :] is an OC x taps matrix (rows C*taps apart) and
// out[:, c, :] its transpose (rows C*OC apart).
void oihw_to_hwio(float* out, const float* in, int64_t OC, int64_t C, int64_t KH, int64_t KW) {
  const int64_t taps = KH * KW;
  for (int64_t c = 0; c < C; ++c) transpose_2d(out + c * OC, C * OC, in + c * taps, C * taps, OC, taps);
}

void hwio_to_oihw(float* out, const float* in, int64_t OC, int64_t C, int64_t KH, int64_t KW) {
  const int64_t taps = KH * KW;
  for (int64_t c = 0; c < C; ++c) transpose_2d(out + c * taps, C * taps, in + c * OC, C * OC, taps, OC);
}

}  // namespace ds
