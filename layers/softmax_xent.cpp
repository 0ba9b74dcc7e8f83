// Softmax cross-entropy loss (mean over the batch, as nn.CrossEntropyLoss) and inference
// softmax, through engine/kernels/softmax_xent. Labels come from outside: always checked.
#include "engine/kernels/softmax_xent.h"
#include "base/error.h"
#include "layers/layers.h"

namespace ds {

VarPtr softmax_cross_entropy(Context& ctx, const VarPtr& logits, const std::vector<int>& labels, Tensor* probs) {
  const Shape& s = logits->value.shape();
  DS_CHECK_INPUT(s.ndim == 2 && s[0] > 0 && s[1] > 0,
                 "softmax_cross_entropy: logits " + s.str() + " do not fit, expected [N > 0, K > 0]");
  const int64_t N = s[0], K = s[1];
  DS_CHECK_INPUT((int64_t)labels.size() == N,
                 "softmax_cross_entropy: " + std::to_string(labels.size()) + " labels for logits " + s.str());
  for (size_t i = 0; i < labels.size(); ++i)
    DS_CHECK_INPUT(labels[i] >= 0 && labels[i] < K, "softmax_cross_entropy: label " + std::to_string(labels[i]) +
                                                        " at row " + std::to_string(i) + " is outside [0, " +
                                                        std::to_string(K) + ")");
  Tensor p = Tensor::empty(s);
  VarPtr loss = make_var(Tensor::empty(Shape{1}));
  softmax_xent_forward(loss->value.data(), p.data(), logits->value.data(), labels.data(), N, K);
  if (probs) *probs = p.clone();
  if (ctx.recording()) {
    ctx.tape->push([logits, loss, p, labels, N, K] {
      if (!loss->grad.defined()) return;
      softmax_xent_backward(logits->ensure_grad().data(), loss->grad[0], p.data(), labels.data(), N, K);
    });
  }
  return loss;
}

Tensor softmax(const Tensor& logits) {
  const Shape& s = logits.shape();
  DS_CHECK_INPUT(s.ndim == 2 && s[1] > 0, "softmax: logits " + s.str() + " do not fit, expected [N, K > 0]");
  Tensor p = Tensor::empty(s);
  softmax_forward(p.data(), logits.data(), s[0], s[1]);
  return p;
}

}  // namespace ds
