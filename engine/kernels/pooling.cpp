// Max pooling and global average pooling kernels (see pooling.h), OpenMP-parallel over planes.
#include "engine/kernels/pooling.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ds {

namespace {
constexpr int64_t kParallelMin = int64_t(1) << 15;  // elements below which threads do not pay
}

PoolDims make_pool_dims(int64_t N, int64_t C, int64_t H, int64_t W, int64_t k, int64_t stride,
                        int64_t pad) {
  PoolDims d;
  d.N = N, d.C = C, d.H = H, d.W = W, d.KH = k, d.KW = k;
  d.stride_h = d.stride_w = stride;
  d.pad_h = d.pad_w = pad;
  d.OH = (H + 2 * pad - k) / stride + 1;
  d.OW = (W + 2 * pad - k) / stride + 1;
  return d;
}

void maxpool2d_forward(float* out, int32_t* argmax, const float* in, const PoolDims& d) {
  const int64_t planes = d.N * d.C;
#pragma omp parallel for schedule(static) if (planes * d.H * d.W > kParallelMin)
  for (int64_t p = 0; p < planes; ++p) {
    const float* x = in + p * d.H * d.W;
    float* y = out + p * d.OH * d.OW;
    int32_t* am = argmax ? argmax + p * d.OH * d.OW : nullptr;
    for (int64_t oh = 0; oh < d.OH; ++oh) {
      const int64_t h0 = std::max<int64_t>(oh * d.stride_h - d.pad_h, 0);
      const int64_t h1 = std::min<int64_t>(oh * d.stride_h - d.pad_h + d.KH, d.H);
      for (int64_t ow = 0; ow < d.OW; ++ow) {
        const int64_t w0 = std::max<int64_t>(ow * d.stride_w - d.pad_w, 0);
        const int64_t w1 = std::min<int64_t>(ow * d.stride_w - d.pad_w + d.KW, d.W);
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_i = h0 * d.W + w0;
        for (int64_t ih = h0; ih < h1; ++ih) {
          for (int64_t iw = w0; iw < w1; ++iw) {
            const float v = x[ih * d.W + iw];
            if (v > best || std::isnan(v)) {
              best = v;
              best_i = ih * d.W + iw;
            }
          }
        }
        y[oh * d.OW + ow] = best;
        if (am) am[oh * d.OW + ow] = (int32_t)best_i;
      }
    }
  }
}

void maxpool2d_forward_ref(float* out, int32_t* argmax, const float* in, const PoolDims& d) {
  for (int64_t p = 0; p < d.N * d.C; ++p)
    for (int64_t oh = 0; oh < d.OH; ++oh)
      for (int64_t ow = 0; ow < d.OW; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_i = -1;
        for (int64_t kh = 0; kh < d.KH; ++kh)
          for (int64_t kw = 0; kw < d.KW; ++kw) {
            const int64_t ih = oh * d.stride_h - d.pad_h + kh;
            const int64_t iw = ow * d.stride_w - d.pad_w + kw;
            if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
            const float v = in[p * d.H * d.W + ih * d.W + iw];
            if (best_i < 0 || v > best || std::isnan(v)) {
              best = v;
              best_i = ih * d.W + iw;
            }
          }
        out[p * d.OH * d.OW + oh * d.OW + ow] = best;
        if (argmax) argmax[p * d.OH * d.OW + oh * d.OW + ow] = (int32_t)best_i;
      }
}

void maxpool2d_backward(float* d_in, const float* d_out, const int32_t* argmax,
                        const PoolDims& d) {
  const int64_t planes = d.N * d.C, ohw = d.OH * d.OW;
#pragma omp parallel for schedule(static) if (planes * d.H * d.W > kParallelMin)
  for (int64_t p = 0; p < planes; ++p) {
    float* dx = d_in + p * d.H * d.W;
    const float* dy = d_out + p * ohw;
    const int32_t* am = argmax + p * ohw;
    for (int64_t i = 0; i < ohw; ++i) dx[am[i]] += dy[i];
  }
}

void global_avg_pool_forward(float* out, const float* in, int64_t N, int64_t C, int64_t HW) {
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t p = 0; p < N * C; ++p) {
    const float* x = in + p * HW;
    double s = 0;
    for (int64_t i = 0; i < HW; ++i) s += x[i];
    out[p] = (float)(s / (double)HW);
  }
}

void global_avg_pool_backward(float* d_in, const float* d_out, int64_t N, int64_t C, int64_t HW) {
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t p = 0; p < N * C; ++p) {
    const float g = d_out[p] / (float)HW;
    float* dx = d_in + p * HW;
    for (int64_t i = 0; i < HW; ++i) dx[i] += g;
  }
}

}  // namespace ds
