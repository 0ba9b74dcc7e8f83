// Direct-loop BatchNorm twins (see batchnorm.h): the definition the fast kernels are tested
// against, one channel at a time, in double.
#include <cmath>
#include <vector>

#include "engine/kernels/batchnorm.h"

namespace ds {

namespace {

// out[p][c] = fuse((in[p][c] - mean) * invstd * gamma[c] + beta[c]) for channel c.
void normalize_channel_ref(float* out, const float* in, double mean, double invstd, const float* gamma,
                           const float* beta, int64_t P, int64_t C, int64_t c, const BnFuse& fuse) {
  for (int64_t p = 0; p < P; ++p) {
    const int64_t i = p * C + c;
    double y = (in[i] - mean) * invstd * gamma[c] + beta[c];
    if (fuse.residual) y += fuse.residual[i];
    if (fuse.relu && y < 0) y = 0;
    out[i] = (float)y;
  }
}

}  // namespace

void batchnorm_forward_train_ref(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                 float* running_var, const float* in, const float* gamma, const float* beta, int64_t P,
                                 int64_t C, float momentum, float eps, const BnFuse& fuse, const BnSync* sync,
                                 const double* in_sums) {
  std::vector<double> mean((size_t)C), sq((size_t)C, 0.0);
  double n = 0;
  if (in_sums) {
    n = batch_moments_from_sums(mean.data(), sq.data(), in_sums, P, C, sync);
  } else {
    // Every channel's sum first, so that a synchronized BN can add the other processes' in.
    std::vector<double> sum((size_t)C + 1, 0.0);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < P; ++p) sum[c] += in[p * C + c];
    sum[C] = (double)P;
    if (sync) sync->sum(sum.data(), C + 1);
    n = sum[C];
    for (int64_t c = 0; c < C; ++c) {
      mean[c] = sum[c] / n;
      for (int64_t p = 0; p < P; ++p) sq[c] += (in[p * C + c] - mean[c]) * (in[p * C + c] - mean[c]);  // two passes
    }
    if (sync) sync->sum(sq.data(), C);
  }
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt(sq[c] / n + (double)eps);
    save_mean[c] = (float)mean[c];
    save_invstd[c] = (float)invstd;
    if (running_mean) running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean[c]);
    if (running_var) {
      const double unbiased = n > 1 ? sq[c] / (n - 1) : sq[c] / n;
      running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
    normalize_channel_ref(out, in, mean[c], invstd, gamma, beta, P, C, c, fuse);
  }
}

void batchnorm_forward_eval_ref(float* out, float* save_mean, float* save_invstd, const float* in, const float* gamma,
                                const float* beta, const float* running_mean, const float* running_var, int64_t P,
                                int64_t C, float eps, const BnFuse& fuse) {
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt((double)running_var[c] + (double)eps);
    save_mean[c] = running_mean[c];
    save_invstd[c] = (float)invstd;
    normalize_channel_ref(out, in, running_mean[c], invstd, gamma, beta, P, C, c, fuse);
  }
}

void batchnorm_backward_ref(float* d_in, float* d_gamma, float* d_beta, float* d_residual, const float* d_out,
                            const float* out, const float* in, const float* gamma, const float* save_mean,
                            const float* save_invstd, int64_t P, int64_t C, bool training, bool set_in,
                            bool set_residual, const BnSync* sync) {
  // g: the gradient reaching BN, d_out where the fused ReLU passed it (out > 0).
  auto g = [&](int64_t p, int64_t c) {
    const int64_t i = p * C + c;
    return out && !(out[i] > 0) ? 0.0 : (double)d_out[i];
  };
  // Per channel: sum of g, sum of g * xhat; then, for the means, the whole batch's (sync).
  std::vector<double> sums((size_t)(2 * C + 1), 0.0);
  for (int64_t c = 0; c < C; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    for (int64_t p = 0; p < P; ++p) {
      sums[c] += g(p, c);
      sums[C + c] += g(p, c) * (in[p * C + c] - mean) * invstd;
    }
    d_beta[c] += (float)sums[c];
    d_gamma[c] += (float)sums[C + c];
  }
  sums[2 * C] = (double)P;
  if (sync && training) sync->sum(sums.data(), 2 * C + 1);
  const double n = sums[2 * C];
  for (int64_t c = 0; c < C; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    for (int64_t p = 0; p < P; ++p) {
      const int64_t i = p * C + c;
      const double xhat = (in[i] - mean) * invstd;
      // training: through the batch statistics; evaluation: mean and invstd are constants.
      const double dx =
          training ? gamma[c] * invstd * (g(p, c) - sums[c] / n - xhat * sums[C + c] / n) : gamma[c] * invstd * g(p, c);
      d_in[i] = (float)(set_in ? dx : d_in[i] + dx);
      if (d_residual) d_residual[i] = (float)(set_residual ? g(p, c) : d_residual[i] + g(p, c));
    }
  }
}

}  // namespace ds
