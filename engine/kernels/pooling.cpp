// Max pooling and global average pooling kernels on NHWC (see pooling.h), OpenMP-parallel over
// output rows / images, vectorised over channels.
#include "engine/kernels/pooling.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "base/int_math.h"
#include "engine/cpu_caches.h"
#include "engine/cpu_features.h"
#include "engine/kernels/pool_loops.h"
#include "engine/kernels/threading.h"

namespace ds {

PoolDims make_pool_dims(int64_t N, int64_t C, int64_t H, int64_t W, int64_t k, int64_t stride, int64_t pad) {
  PoolDims d;
  d.N = N, d.C = C, d.H = H, d.W = W, d.KH = k, d.KW = k;
  d.stride_h = d.stride_w = stride;
  d.pad_h = d.pad_w = pad;
  d.OH = (H + 2 * pad - k) / stride + 1;
  d.OW = (W + 2 * pad - k) / stride + 1;
  return d;
}

// Parallel over output rows; each row's loop is the ISA's (pool_loops.h).
void maxpool2d_forward(float* out, int32_t* argmax, const float* in, const PoolDims& d) {
  if (reference_kernels()) return maxpool2d_forward_ref(out, argmax, in, d);
  const PoolLoops& L = pool_loops();
  const int64_t rows = d.N * d.OH;
#pragma omp parallel for schedule(static) if (use_threads(rows * d.OW * d.C, kMinParallelElements))
  for (int64_t r = 0; r < rows; ++r) L.max_row(out, argmax, in, d, r);
}

int64_t pool_band_rows(const PoolDims& d) {
  if (d.band_rows > 0) return d.band_rows;
  const double row_bytes = std::max(1.0, (double)d.W * (double)d.C * sizeof(float));
  const double fit_rows = 0.8 * (double)std::max<int64_t>(cpu_caches().l2, 64 << 10) / row_bytes;
  // R pooled rows read (R - 1) * stride + KH input rows.
  const int64_t rows = std::max<int64_t>(1, (int64_t)((fit_rows - (double)d.KH) / (double)d.stride_h) + 1);
  const int64_t oh = std::max<int64_t>(d.OH, 1);
  const int64_t min_bands = ceil_div(2 * (int64_t)omp_get_max_threads(), std::max<int64_t>(d.N, 1));
  const int64_t capped = std::min({rows, oh, ceil_div(oh, min_bands)});
  return ceil_div(oh, ceil_div(oh, capped));  // the image's bands evened out
}

int64_t pool_bands(const PoolDims& d) { return d.N * ceil_div(d.OH, pool_band_rows(d)); }

PoolBand pool_band(const PoolDims& d, int64_t i) {
  const int64_t band_rows = pool_band_rows(d);
  const int64_t per_image = ceil_div(d.OH, band_rows);
  PoolBand b;
  b.n = i / per_image;
  b.ph0 = i % per_image * band_rows;
  const int64_t ph1 = std::min(d.OH, b.ph0 + band_rows);
  b.r0 = std::max<int64_t>(0, b.ph0 * d.stride_h - d.pad_h);
  b.r1 = std::min(d.H, (ph1 - 1) * d.stride_h - d.pad_h + d.KH);
  // The band's first row is the input's r0, so the padding above it is what remains of pad_h.
  b.local = d;
  b.local.N = 1, b.local.H = b.r1 - b.r0, b.local.OH = ph1 - b.ph0;
  b.local.pad_h = b.r0 - (b.ph0 * d.stride_h - d.pad_h);
  return b;
}

void maxpool2d_band(float* out, const float* band, const PoolDims& d, const PoolBand& b) {
  float* o = out + (b.n * d.OH + b.ph0) * d.OW * d.C;
  for (int64_t r = 0; r < b.local.OH; ++r) pool_loops().max_row(o, nullptr, band, b.local, r);
}

void maxpool2d_band_codes(const uint8_t* band, const PoolDims& d, const PoolBand& b,
                          const std::function<uint8_t*(int64_t r, int64_t pw)>& dst) {
  thread_local std::vector<uint8_t*> out;
  out.resize((size_t)b.local.OW);
  for (int64_t r = 0; r < b.local.OH; ++r) {
    for (int64_t pw = 0; pw < b.local.OW; ++pw) out[(size_t)pw] = dst(r, pw);
    pool_loops().max_row_codes(out.data(), band, b.local, r);
  }
}

void maxpool2d_forward_ref(float* out, int32_t* argmax, const float* in, const PoolDims& d) {
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t oh = 0; oh < d.OH; ++oh)
        for (int64_t ow = 0; ow < d.OW; ++ow) {
          float best = -std::numeric_limits<float>::infinity();
          int64_t best_i = -1;
          for (int64_t kh = 0; kh < d.KH; ++kh)
            for (int64_t kw = 0; kw < d.KW; ++kw) {
              const int64_t ih = oh * d.stride_h - d.pad_h + kh;
              const int64_t iw = ow * d.stride_w - d.pad_w + kw;
              if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
              const float v = in[((n * d.H + ih) * d.W + iw) * d.C + c];
              if (best_i < 0 || v > best || std::isnan(v)) {
                best = v;
                best_i = ih * d.W + iw;
              }
            }
          const int64_t o = ((n * d.OH + oh) * d.OW + ow) * d.C + c;
          out[o] = best;
          if (argmax) argmax[o] = (int32_t)best_i;
        }
}

void maxpool2d_backward(float* d_in, const float* d_out, const int32_t* argmax, const PoolDims& d, bool set) {
  const int64_t ohw = d.OH * d.OW, C = d.C;
  // Windows overlap within an image, so each image is one thread's; with set, that thread also
  // zeroes it first. (A gather, each input pixel summing the windows that chose it and written
  // once, is slower than this scatter.)
#pragma omp parallel for schedule(static) if (use_threads(d.N * ohw * C, kMinParallelElements))
  for (int64_t n = 0; n < d.N; ++n) {
    float* dx = d_in + n * d.H * d.W * C;
    if (set) std::fill(dx, dx + d.H * d.W * C, 0.f);
    for (int64_t i = 0; i < ohw; ++i) {
      const float* dy = d_out + (n * ohw + i) * C;
      const int32_t* am = argmax + (n * ohw + i) * C;
      for (int64_t c = 0; c < C; ++c) dx[(int64_t)am[c] * C + c] += dy[c];
    }
  }
}

void global_avg_pool_forward(float* out, const float* in, int64_t N, int64_t C, int64_t HW) {
#pragma omp parallel for schedule(static) if (use_threads(N * C * HW, kMinParallelElements))
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> s(C, 0.0);
    for (int64_t i = 0; i < HW; ++i) {
      const float* x = in + (n * HW + i) * C;
      for (int64_t c = 0; c < C; ++c) s[c] += x[c];
    }
    for (int64_t c = 0; c < C; ++c) out[n * C + c] = (float)(s[c] / (double)HW);
  }
}

void global_avg_pool_backward(float* d_in, const float* d_out, int64_t N, int64_t C, int64_t HW) {
#pragma omp parallel for schedule(static) if (use_threads(N * C * HW, kMinParallelElements))
  for (int64_t n = 0; n < N; ++n) {
    std::vector<float> g(C);
    for (int64_t c = 0; c < C; ++c) g[c] = d_out[n * C + c] / (float)HW;
    for (int64_t i = 0; i < HW; ++i) {
      float* dx = d_in + (n * HW + i) * C;
      for (int64_t c = 0; c < C; ++c) dx[c] += g[c];
    }
  }
}

}  // namespace ds
