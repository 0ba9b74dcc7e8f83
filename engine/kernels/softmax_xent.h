// Softmax and mean softmax cross-entropy kernels (numerically stable: the row maximum is
// subtracted before exp, sums in double). Serial plain loops over the few rows of a batch: their
// own reference. Backward accumulates.
#pragma once
#include <cstdint>

namespace ds {

// probs = row-wise softmax of logits.
void softmax_forward(float* probs,         // [N, K]
                     const float* logits,  // [N, K]
                     int64_t N, int64_t K);

// loss[0] = mean over rows of -log softmax(logits)[label]; probs receives the softmax.
// Labels must lie in [0, K) (the caller checks).
void softmax_xent_forward(float* loss,          // [1]
                          float* probs,         // [N, K]
                          const float* logits,  // [N, K]
                          const int* labels,    // [N]
                          int64_t N, int64_t K);

// d_logits += d_loss * (probs - onehot(labels)) / N. Accumulates.
void softmax_xent_backward(float* d_logits,  // [N, K]
                           float d_loss,
                           const float* probs,  // [N, K]
                           const int* labels,   // [N]
                           int64_t N, int64_t K);

}  // namespace ds
