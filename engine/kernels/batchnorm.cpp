// BatchNorm2d forward/backward kernels (see batchnorm.h), OpenMP-parallel over channels.
#include "engine/kernels/batchnorm.h"

#include <cmath>

namespace ds {

namespace {
constexpr int64_t kParallelMin = int64_t(1) << 15;  // elements below which threads do not pay
}

void batchnorm2d_forward_train(float* out, float* save_mean, float* save_invstd,
                               float* running_mean, float* running_var, const float* in,
                               const float* gamma, const float* beta, int64_t N, int64_t C,
                               int64_t HW, float momentum, float eps) {
  const int64_t count = N * HW;
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0;
    for (int64_t n = 0; n < N; ++n) {
      const float* x = in + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) sum += x[i];
    }
    const double mean = sum / (double)count;
    double sq = 0;  // two-pass variance: no cancellation
    for (int64_t n = 0; n < N; ++n) {
      const float* x = in + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) {
        const double t = x[i] - mean;
        sq += t * t;
      }
    }
    const double var = sq / (double)count;
    const double invstd = 1.0 / std::sqrt(var + (double)eps);
    save_mean[c] = (float)mean;
    save_invstd[c] = (float)invstd;
    if (running_mean) {
      running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
    }
    if (running_var) {
      const double unbiased = count > 1 ? sq / (double)(count - 1) : var;
      running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
    const float scale = (float)(invstd * gamma[c]), shift = beta[c], m = (float)mean;
    for (int64_t n = 0; n < N; ++n) {
      const float* x = in + (n * C + c) * HW;
      float* y = out + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) y[i] = (x[i] - m) * scale + shift;
    }
  }
}

void batchnorm2d_forward_eval(float* out, float* save_mean, float* save_invstd, const float* in,
                              const float* gamma, const float* beta, const float* running_mean,
                              const float* running_var, int64_t N, int64_t C, int64_t HW,
                              float eps) {
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt((double)running_var[c] + (double)eps);
    save_mean[c] = running_mean[c];
    save_invstd[c] = (float)invstd;
    const float scale = (float)(invstd * gamma[c]), shift = beta[c], m = running_mean[c];
    for (int64_t n = 0; n < N; ++n) {
      const float* x = in + (n * C + c) * HW;
      float* y = out + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) y[i] = (x[i] - m) * scale + shift;
    }
  }
}

void batchnorm2d_backward(float* d_in, float* d_gamma, float* d_beta, const float* d_out,
                          const float* in, const float* gamma, const float* save_mean,
                          const float* save_invstd, int64_t N, int64_t C, int64_t HW,
                          bool training) {
  const int64_t count = N * HW;
#pragma omp parallel for schedule(static) if (N * C * HW > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < N; ++n) {
      const float* x = in + (n * C + c) * HW;
      const float* dy = d_out + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) {
        sum_dy += dy[i];
        sum_dy_xhat += dy[i] * ((x[i] - mean) * invstd);
      }
    }
    d_beta[c] += (float)sum_dy;
    d_gamma[c] += (float)sum_dy_xhat;
    // training: dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
    // eval:     dx = gamma * invstd * dy
    const double k = gamma[c] * invstd;
    const double mean_dy = training ? sum_dy / (double)count : 0.0;
    const double mean_dy_xhat = training ? sum_dy_xhat / (double)count : 0.0;
    const float a = (float)k;                             // * dy
    const float b = (float)(-k * mean_dy_xhat * invstd);  // * (x - mean)
    const float cst = (float)(-k * mean_dy);
    const float m = save_mean[c];
    for (int64_t n = 0; n < N; ++n) {
      const float* x = in + (n * C + c) * HW;
      const float* dy = d_out + (n * C + c) * HW;
      float* dx = d_in + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) dx[i] += a * dy[i] + b * (x[i] - m) + cst;
    }
  }
}

}  // namespace ds
