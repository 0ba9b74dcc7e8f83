// BatchNorm kernels on [P, C] (see batchnorm.h). Per-channel sums are taken over fixed blocks
// of pixels in parallel (double partials, one row per block) and the blocks added in order;
// the elementwise passes are parallel over pixels. The loops themselves are per ISA (bn_loops.h).
#include "engine/kernels/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/int_math.h"
#include "engine/cpu_features.h"
#include "engine/kernels/block_sums.h"
#include "engine/kernels/bn_loops.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threading.h"

namespace ds {

namespace {

constexpr int64_t kBlock = 256;  // pixels per partial sum

// Per-channel sums over fixed blocks of kBlock pixels (block_sums.h): independent of the thread
// count.
template <class Block>
void pixel_block_sums(int64_t P, int64_t C, int64_t width, double* out, Block block) {
  block_sums(P, kBlock, (double)P * (double)C, width, out, block);
}

// Runs f(p0, p1) over [0, P) in blocks of kBlock pixels, in parallel.
template <class F>
void for_pixel_blocks(int64_t P, int64_t C, F f) {
  const int64_t blocks = ceil_div(P, kBlock);
#pragma omp parallel for schedule(static) if (use_threads(P * C, kMinParallelElements))
  for (int64_t b = 0; b < blocks; ++b) f(b * kBlock, std::min(P, (b + 1) * kBlock));
}

// out = fuse(scale * x + shift) per channel.
void normalize(float* out, const float* in, const float* scale, const float* shift, int64_t P, int64_t C,
               const BnFuse& fuse) {
  const BnLoops& L = bn_loops();
  for_pixel_blocks(
      P, C, [&](int64_t p0, int64_t p1) { L.normalize(out, in, scale, shift, fuse.residual, fuse.relu, p0, p1, C); });
}

}  // namespace

double batch_moments_from_sums(double* mean, double* sq, const double* in_sums, int64_t P, int64_t C,
                               const BnSync* sync) {
  std::vector<double> v(in_sums, in_sums + 2 * C);
  v.push_back((double)P);
  if (sync) sync->sum(v.data(), 2 * C + 1);
  const double n = v[(size_t)(2 * C)];
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = v[(size_t)c] / n;
    // Q - S^2 / n loses only double's digits to cancellation: Q was summed from centred squares.
    sq[c] = std::max(0.0, v[(size_t)(C + c)] - v[(size_t)c] * mean[c]);
  }
  return n;
}

void batchnorm_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                             const float* in, const float* gamma, const float* beta, int64_t P, int64_t C,
                             float momentum, float eps, const BnFuse& fuse, const BnSync* sync, const double* in_sums) {
  if (reference_kernels())
    return batchnorm_forward_train_ref(out, save_mean, save_invstd, running_mean, running_var, in, gamma, beta, P, C,
                                       momentum, eps, fuse, sync, in_sums);
  const BnLoops& L = bn_loops();
  std::vector<double> mean(C), sq(C);  // sq: the centred sum of squares
  double n = 0;
  if (in_sums) {
    n = batch_moments_from_sums(mean.data(), sq.data(), in_sums, P, C, sync);
  } else {
    std::vector<double> sum(C + 1);  // sum[C]: the pixel count
    pixel_block_sums(P, C, C, sum.data(),
                     [&](double* s, int64_t p0, int64_t p1) { L.sums(s, in, nullptr, p0, p1, C); });
    sum[C] = (double)P;
    if (sync) sync->sum(sum.data(), C + 1);
    n = sum[C];
    for (int64_t c = 0; c < C; ++c) mean[c] = sum[c] / n;
    // Two-pass variance: no cancellation.
    pixel_block_sums(P, C, C, sq.data(),
                     [&](double* s, int64_t p0, int64_t p1) { L.sums(s, in, mean.data(), p0, p1, C); });
    if (sync) sync->sum(sq.data(), C);
  }
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    const double var = sq[c] / n;
    const double invstd = 1.0 / std::sqrt(var + (double)eps);
    save_mean[c] = (float)mean[c];
    save_invstd[c] = (float)invstd;
    if (running_mean) running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean[c]);
    if (running_var) {
      const double unbiased = n > 1 ? sq[c] / (n - 1) : var;
      running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
    // y = (x - mean) * invstd * gamma + beta, as scale * x + shift.
    scale[c] = (float)(invstd * gamma[c]);
    shift[c] = (float)(beta[c] - mean[c] * invstd * gamma[c]);
  }
  normalize(out, in, scale.data(), shift.data(), P, C, fuse);
}

void batchnorm_forward_eval(float* out, float* save_mean, float* save_invstd, const float* in, const float* gamma,
                            const float* beta, const float* running_mean, const float* running_var, int64_t P,
                            int64_t C, float eps, const BnFuse& fuse) {
  if (reference_kernels())
    return batchnorm_forward_eval_ref(out, save_mean, save_invstd, in, gamma, beta, running_mean, running_var, P, C,
                                      eps, fuse);
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

void batchnorm_backward(float* d_in, float* d_gamma, float* d_beta, float* d_residual, const float* d_out,
                        const float* out, const float* in, const float* gamma, const float* save_mean,
                        const float* save_invstd, int64_t P, int64_t C, bool training, bool set_in, bool set_residual,
                        const BnSync* sync) {
  if (reference_kernels())
    return batchnorm_backward_ref(d_in, d_gamma, d_beta, d_residual, d_out, out, in, gamma, save_mean, save_invstd, P,
                                  C, training, set_in, set_residual, sync);
  // g = d_out masked by the fused ReLU (where out > 0); both sums in one pass.
  const BnLoops& L = bn_loops();
  std::vector<double> both(2 * C);
  pixel_block_sums(P, C, 2 * C, both.data(), [&](double* s, int64_t p0, int64_t p1) {
    L.grad_sums(s, s + C, d_out, out, in, save_mean, p0, p1, C);
  });
  const double* sum_dy = both.data();
  const double* sum_dy_xc = both.data() + C;
  // The means below are over the whole batch: with sync, of every process's sums and pixels.
  std::vector<double> whole;
  const double* all_dy = sum_dy;
  const double* all_dy_xc = sum_dy_xc;
  double n = (double)P;
  if (sync && training) {
    whole.assign(both.begin(), both.end());
    whole.push_back((double)P);
    sync->sum(whole.data(), 2 * C + 1);
    all_dy = whole.data();
    all_dy_xc = whole.data() + C;
    n = whole[2 * C];
  }
  // training: dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
  // eval:     dx = gamma * invstd * dy
  std::vector<float> a(C), b(C), cst(C);
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = save_invstd[c];
    d_beta[c] += (float)sum_dy[c];
    d_gamma[c] += (float)(sum_dy_xc[c] * invstd);
    const double k = gamma[c] * invstd;
    const double mean_dy = training ? all_dy[c] / n : 0.0;
    const double mean_dy_xhat = training ? all_dy_xc[c] * invstd / n : 0.0;
    a[c] = (float)k;                             // * dy
    b[c] = (float)(-k * mean_dy_xhat * invstd);  // * x
    cst[c] = (float)(-k * mean_dy + k * mean_dy_xhat * invstd * save_mean[c]);
  }
  for_pixel_blocks(P, C, [&](int64_t p0, int64_t p1) {
    L.backward(d_in, d_residual, d_out, out, in, a.data(), b.data(), cst.data(), set_in, set_residual, p0, p1, C);
  });
}

}  // namespace ds
