// BatchNorm kernels on [P, C] (see batchnorm.h). Per-channel sums are taken over fixed blocks
// of pixels in parallel (double partials, one row per block) and the blocks added in order;
// the elementwise passes are parallel over pixels and vectorise over channels.
#include "engine/kernels/batchnorm.h"

#include <omp.h>

#include <cmath>
#include <vector>

namespace ds {

namespace {

constexpr int64_t kBlock = 256;                     // pixels per partial sum
constexpr int64_t kParallelMin = int64_t(1) << 15;  // elements below which threads do not pay

// sums[c] = sum over p of f(p, c), in double, independent of the thread count.
template <class F>
void channel_sums(double* sums, int64_t P, int64_t C, F f) {
  const int64_t blocks = (P + kBlock - 1) / kBlock;
  std::vector<double> part((size_t)(blocks * C), 0.0);
#pragma omp parallel for schedule(static) if (P * C > kParallelMin && !omp_in_parallel())
  for (int64_t b = 0; b < blocks; ++b) {
    double* s = part.data() + b * C;
    const int64_t p1 = std::min(P, (b + 1) * kBlock);
    for (int64_t p = b * kBlock; p < p1; ++p)
      for (int64_t c = 0; c < C; ++c) s[c] += f(p, c);
  }
  for (int64_t c = 0; c < C; ++c) sums[c] = 0;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t c = 0; c < C; ++c) sums[c] += part[b * C + c];
}

// out = fuse(scale * x + shift) per channel.
void normalize(float* out, const float* in, const float* scale, const float* shift, int64_t P,
               int64_t C, const BnFuse& fuse) {
#pragma omp parallel for schedule(static) if (P * C > kParallelMin && !omp_in_parallel())
  for (int64_t p = 0; p < P; ++p) {
    const float* x = in + p * C;
    float* y = out + p * C;
    const float* r = fuse.residual ? fuse.residual + p * C : nullptr;
    if (r && fuse.relu) {
      for (int64_t c = 0; c < C; ++c) {
        const float v = x[c] * scale[c] + shift[c] + r[c];
        y[c] = v < 0 ? 0.f : v;
      }
    } else if (r) {
      for (int64_t c = 0; c < C; ++c) y[c] = x[c] * scale[c] + shift[c] + r[c];
    } else if (fuse.relu) {
      for (int64_t c = 0; c < C; ++c) {
        const float v = x[c] * scale[c] + shift[c];
        y[c] = v < 0 ? 0.f : v;
      }
    } else {
      for (int64_t c = 0; c < C; ++c) y[c] = x[c] * scale[c] + shift[c];
    }
  }
}

}  // namespace

void batchnorm_forward_train(float* out, float* save_mean, float* save_invstd,
                             float* running_mean, float* running_var, const float* in,
                             const float* gamma, const float* beta, int64_t P, int64_t C,
                             float momentum, float eps, const BnFuse& fuse) {
  std::vector<double> sum(C), sq(C);
  channel_sums(sum.data(), P, C, [&](int64_t p, int64_t c) { return (double)in[p * C + c]; });
  std::vector<double> mean(C);
  for (int64_t c = 0; c < C; ++c) mean[c] = sum[c] / (double)P;
  // Two-pass variance: no cancellation.
  channel_sums(sq.data(), P, C, [&](int64_t p, int64_t c) {
    const double t = in[p * C + c] - mean[c];
    return t * t;
  });
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    const double var = sq[c] / (double)P;
    const double invstd = 1.0 / std::sqrt(var + (double)eps);
    save_mean[c] = (float)mean[c];
    save_invstd[c] = (float)invstd;
    if (running_mean)
      running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean[c]);
    if (running_var) {
      const double unbiased = P > 1 ? sq[c] / (double)(P - 1) : var;
      running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
    // y = (x - mean) * invstd * gamma + beta, as scale * x + shift.
    scale[c] = (float)(invstd * gamma[c]);
    shift[c] = (float)(beta[c] - mean[c] * invstd * gamma[c]);
  }
  normalize(out, in, scale.data(), shift.data(), P, C, fuse);
}

void batchnorm_forward_eval(float* out, float* save_mean, float* save_invstd, const float* in,
                            const float* gamma, const float* beta, const float* running_mean,
                            const float* running_var, int64_t P, int64_t C, float eps,
                            const BnFuse& fuse) {
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt((double)running_var[c] + (double)eps);
    save_mean[c] = running_mean[c];
    save_invstd[c] = (float)invstd;
    scale[c] = (float)(invstd * gamma[c]);
    shift[c] = (float)(beta[c] - running_mean[c] * invstd * gamma[c]);
  }
  normalize(out, in, scale.data(), shift.data(), P, C, fuse);
}

void batchnorm_backward(float* d_in, float* d_gamma, float* d_beta, float* d_residual,
                        const float* d_out, const float* out, const float* in,
                        const float* gamma, const float* save_mean, const float* save_invstd,
                        int64_t P, int64_t C, bool training) {
  // g = d_out masked by the fused ReLU.
  auto g = [&](int64_t i) { return out && !(out[i] > 0) ? 0.f : d_out[i]; };
  std::vector<double> sum_dy(C), sum_dy_xc(C);
  channel_sums(sum_dy.data(), P, C, [&](int64_t p, int64_t c) { return (double)g(p * C + c); });
  channel_sums(sum_dy_xc.data(), P, C, [&](int64_t p, int64_t c) {
    return (double)g(p * C + c) * ((double)in[p * C + c] - save_mean[c]);
  });
  // training: dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
  // eval:     dx = gamma * invstd * dy
  std::vector<float> a(C), b(C), cst(C);
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = save_invstd[c];
    d_beta[c] += (float)sum_dy[c];
    d_gamma[c] += (float)(sum_dy_xc[c] * invstd);
    const double k = gamma[c] * invstd;
    const double mean_dy = training ? sum_dy[c] / (double)P : 0.0;
    const double mean_dy_xhat = training ? sum_dy_xc[c] * invstd / (double)P : 0.0;
    a[c] = (float)k;                                             // * dy
    b[c] = (float)(-k * mean_dy_xhat * invstd);                  // * x
    cst[c] = (float)(-k * mean_dy + k * mean_dy_xhat * invstd * save_mean[c]);
  }
#pragma omp parallel for schedule(static) if (P * C > kParallelMin && !omp_in_parallel())
  for (int64_t p = 0; p < P; ++p) {
    const float* x = in + p * C;
    float* dx = d_in + p * C;
    float* dr = d_residual ? d_residual + p * C : nullptr;
    for (int64_t c = 0; c < C; ++c) {
      const float gi = g(p * C + c);
      dx[c] += a[c] * gi + b[c] * x[c] + cst[c];
      if (dr) dr[c] += gi;
    }
  }
}

}  // namespace ds
