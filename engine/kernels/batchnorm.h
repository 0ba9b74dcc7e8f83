// BatchNorm kernels on channels-last activations viewed as [P, C] (P = N * H * W pixels),
// float32, PyTorch semantics, statistics accumulated in double over fixed pixel blocks (so
// results do not depend on the thread count). Both forward variants also return the
// per-channel mean and invstd = 1/sqrt(var + eps) they normalised with, so one backward kernel
// serves training (batch statistics) and evaluation (running statistics). The forward kernels
// can fuse what follows BN in a ResNet block: y = relu(bn(x) + residual); the backward kernel
// then takes y to mask the ReLU and writes the residual's gradient. The _ref twins are direct
// loops in double, one channel at a time: test oracles, and what reference mode runs.
#pragma once
#include <cstdint>

namespace ds {

// Synchronized BatchNorm: sums per-channel statistics over the processes that share one
// training batch (each holds a slice of it), so that every slice is normalised with the whole
// batch's mean and variance and differentiated through them. The engine only calls it; the
// communication lives above (train/data_parallel). Null everywhere = this process's batch.
struct BnSync {
  virtual ~BnSync() = default;
  virtual void sum(double* v, int64_t n) const = 0;  // v[0..n) elementwise over the processes, in place
};

struct BnFuse {
  const float* residual = nullptr;  // [P, C] added after normalisation, or null
  bool relu = false;                // max(., 0) last
};

// Training: normalise with the batch mean and biased variance; if running_mean/running_var are
// non-null update them as running = (1 - momentum) * running + momentum * batch_stat, with the
// unbiased variance (P / (P - 1)) for running_var. Requires P > 1. With sync, P and the sums are
// the whole batch's over the processes (each then needs P >= 1). in_sums, when given, are the
// input's per-channel sums [2 * C] (sum, then sum of squares, over this process's P pixels) as
// the convolution before took them (ConvEpilogue::channel_sums): the statistics then come from
// them instead of two passes over the input.
void batchnorm_forward_train(float* out,           // [P, C]
                             float* save_mean,     // [C]
                             float* save_invstd,   // [C]
                             float* running_mean,  // [C] or null, updated in place
                             float* running_var,   // [C] or null, updated in place
                             const float* in,      // [P, C]
                             const float* gamma,   // [C]
                             const float* beta,    // [C]
                             int64_t P, int64_t C, float momentum, float eps, const BnFuse& fuse = {},
                             const BnSync* sync = nullptr, const double* in_sums = nullptr);

// The batch's per-channel mean and centred sum of squares sq (sum of (x - mean)^2) from in_sums
// as above, summed over the processes with sync; returns the batch's pixel count.
double batch_moments_from_sums(double* mean, double* sq, const double* in_sums, int64_t P, int64_t C,
                               const BnSync* sync);

// Evaluation: normalise with running statistics.
void batchnorm_forward_eval(float* out,                 // [P, C]
                            float* save_mean,           // [C]: copy of running_mean
                            float* save_invstd,         // [C]: 1/sqrt(running_var + eps)
                            const float* in,            // [P, C]
                            const float* gamma,         // [C]
                            const float* beta,          // [C]
                            const float* running_mean,  // [C]
                            const float* running_var,   // [C]
                            int64_t P, int64_t C, float eps, const BnFuse& fuse = {});

// Accumulates (+=) into d_in, d_gamma, d_beta and d_residual (if non-null), except that d_in
// and d_residual are written (=) when set_in / set_residual say so. out is the forward
// output (needed only when the forward fused a ReLU: the gradient passes where out > 0).
// training = true differentiates through the batch statistics; false treats mean/invstd as
// constants (evaluation mode). With sync (training), the means of the gradient terms are the
// whole batch's; d_gamma and d_beta stay this process's share (the gradient sum adds them up).
void batchnorm_backward(float* d_in,               // [P, C]
                        float* d_gamma,            // [C]
                        float* d_beta,             // [C]
                        float* d_residual,         // [P, C] or null
                        const float* d_out,        // [P, C]
                        const float* out,          // [P, C] or null (no ReLU fused)
                        const float* in,           // [P, C]
                        const float* gamma,        // [C]
                        const float* save_mean,    // [C]
                        const float* save_invstd,  // [C]
                        int64_t P, int64_t C, bool training, bool set_in = false, bool set_residual = false,
                        const BnSync* sync = nullptr);

// Direct-loop twins (same contracts). In reference mode (DEEPSLIDE_ISA=ref,
// engine/cpu_features.h) the kernels above run these.
void batchnorm_forward_train_ref(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                 float* running_var, const float* in, const float* gamma, const float* beta, int64_t P,
                                 int64_t C, float momentum, float eps, const BnFuse& fuse = {},
                                 const BnSync* sync = nullptr, const double* in_sums = nullptr);
void batchnorm_forward_eval_ref(float* out, float* save_mean, float* save_invstd, const float* in, const float* gamma,
                                const float* beta, const float* running_mean, const float* running_var, int64_t P,
                                int64_t C, float eps, const BnFuse& fuse = {});
void batchnorm_backward_ref(float* d_in, float* d_gamma, float* d_beta, float* d_residual, const float* d_out,
                            const float* out, const float* in, const float* gamma, const float* save_mean,
                            const float* save_invstd, int64_t P, int64_t C, bool training, bool set_in = false,
                            bool set_residual = false, const BnSync* sync = nullptr);

}  // namespace ds
