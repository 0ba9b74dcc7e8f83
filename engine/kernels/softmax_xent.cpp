// Softmax / cross-entropy kernels (see softmax_xent.h). Rows are few (a batch), so serial.
#include "engine/kernels/softmax_xent.h"

#include <cmath>

namespace ds {

namespace {

// probs = softmax(row); returns log(sum(exp(row - max))) + max, the row's log-sum-exp.
double softmax_row(float* probs, const float* row, int64_t K) {
  float mx = row[0];
  for (int64_t k = 1; k < K; ++k)
    if (row[k] > mx || std::isnan(row[k])) mx = row[k];
  double sum = 0;
  for (int64_t k = 0; k < K; ++k) sum += std::exp((double)row[k] - mx);
  for (int64_t k = 0; k < K; ++k) probs[k] = (float)(std::exp((double)row[k] - mx) / sum);
  return std::log(sum) + mx;
}

}  // namespace

void softmax_forward(float* probs, const float* logits, int64_t N, int64_t K) {
  for (int64_t n = 0; n < N; ++n) softmax_row(probs + n * K, logits + n * K, K);
}

void softmax_xent_forward(float* loss, float* probs, const float* logits, const int* labels, int64_t N, int64_t K) {
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const double lse = softmax_row(probs + n * K, logits + n * K, K);
    total += lse - logits[n * K + labels[n]];
  }
  loss[0] = (float)(total / (double)N);
}

void softmax_xent_backward(float* d_logits, float d_loss, const float* probs, const int* labels, int64_t N, int64_t K) {
  const float scale = d_loss / (float)N;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      const float target = k == labels[n] ? 1.f : 0.f;
      d_logits[n * K + k] += scale * (probs[n * K + k] - target);
    }
  }
}

}  // namespace ds
