// NCHW <-> NHWC transposes (see layout.h), in 32 x 32 blocks so both sides stay in cache, and
// the convolution weight reorders.
#include "engine/kernels/layout.h"

#include <omp.h>

#include <algorithm>

namespace ds {

namespace {

constexpr int64_t kTile = 32;

// dst[j][i] (=|+=) src[i][j] for one image: src is rows x cols, dst cols x rows.
void transpose(float* dst, const float* src, int64_t rows, int64_t cols, bool accumulate) {
  for (int64_t i0 = 0; i0 < rows; i0 += kTile)
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const int64_t i1 = std::min(rows, i0 + kTile), j1 = std::min(cols, j0 + kTile);
      for (int64_t j = j0; j < j1; ++j)
        for (int64_t i = i0; i < i1; ++i) {
          if (accumulate)
            dst[j * rows + i] += src[i * cols + j];
          else
            dst[j * rows + i] = src[i * cols + j];
        }
    }
}

}  // namespace

void nchw_to_nhwc(float* out, const float* in, int64_t N, int64_t C, int64_t HW,
                  bool accumulate) {
#pragma omp parallel for schedule(static) if (N * C * HW > (1 << 15) && !omp_in_parallel())
  for (int64_t n = 0; n < N; ++n) transpose(out + n * C * HW, in + n * C * HW, C, HW, accumulate);
}

void nhwc_to_nchw(float* out, const float* in, int64_t N, int64_t C, int64_t HW,
                  bool accumulate) {
#pragma omp parallel for schedule(static) if (N * C * HW > (1 << 15) && !omp_in_parallel())
  for (int64_t n = 0; n < N; ++n) transpose(out + n * C * HW, in + n * C * HW, HW, C, accumulate);
}

void oihw_to_hwio(float* out, const float* in, int64_t OC, int64_t C, int64_t KH, int64_t KW) {
  const int64_t taps = KH * KW;
  for (int64_t oc = 0; oc < OC; ++oc)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t t = 0; t < taps; ++t) out[(t * C + c) * OC + oc] = in[(oc * C + c) * taps + t];
}

void hwio_to_oihw(float* out, const float* in, int64_t OC, int64_t C, int64_t KH, int64_t KW) {
  const int64_t taps = KH * KW;
  for (int64_t oc = 0; oc < OC; ++oc)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t t = 0; t < taps; ++t) out[(oc * C + c) * taps + t] = in[(t * C + c) * OC + oc];
}

}  // namespace ds
