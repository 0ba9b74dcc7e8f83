// BatchNorm2d kernels (NCHW, float32, PyTorch semantics). Statistics are accumulated in double.
// Both forward variants also return the per-channel mean and invstd = 1/sqrt(var + eps) they
// normalised with, so one backward kernel serves training (batch statistics, full backward
// through mean and variance) and evaluation (fixed running statistics).
#pragma once
#include <cstdint>

namespace ds {

// Training: normalise with the batch mean and biased variance; if running_mean/running_var are
// non-null update them as running = (1 - momentum) * running + momentum * batch_stat, with the
// unbiased variance (n / (n - 1)) for running_var. Requires N * HW > 1.
void batchnorm2d_forward_train(float* out,            // [N, C, HW]
                               float* save_mean,      // [C]
                               float* save_invstd,    // [C]
                               float* running_mean,   // [C] or null, updated in place
                               float* running_var,    // [C] or null, updated in place
                               const float* in,       // [N, C, HW]
                               const float* gamma,    // [C]
                               const float* beta,     // [C]
                               int64_t N, int64_t C, int64_t HW, float momentum, float eps);

// Evaluation: normalise with running statistics.
void batchnorm2d_forward_eval(float* out,                // [N, C, HW]
                              float* save_mean,          // [C]: copy of running_mean
                              float* save_invstd,        // [C]: 1/sqrt(running_var + eps)
                              const float* in,           // [N, C, HW]
                              const float* gamma,        // [C]
                              const float* beta,         // [C]
                              const float* running_mean, // [C]
                              const float* running_var,  // [C]
                              int64_t N, int64_t C, int64_t HW, float eps);

// Accumulates (+=) into d_in, d_gamma, d_beta. training = true differentiates through the batch
// statistics; false treats mean/invstd as constants (evaluation mode).
void batchnorm2d_backward(float* d_in,              // [N, C, HW]
                          float* d_gamma,           // [C]
                          float* d_beta,            // [C]
                          const float* d_out,       // [N, C, HW]
                          const float* in,          // [N, C, HW]
                          const float* gamma,       // [C]
                          const float* save_mean,   // [C]
                          const float* save_invstd, // [C]
                          int64_t N, int64_t C, int64_t HW, bool training);

}  // namespace ds
