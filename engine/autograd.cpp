// Tape replay and lazy gradient allocation.
#include "engine/autograd.h"

#include "base/error.h"

namespace ds {

Tensor& Var::ensure_grad() {
  if (!grad.defined()) grad = Tensor(value.shape());
  return grad;
}

Tensor& Var::grad_to_write(bool* fresh) {
  *fresh = !grad.defined();
  if (*fresh) grad = Tensor::empty(value.shape());
  return grad;
}

void Tape::backward(const VarPtr& loss, float seed) {
  DS_CHECK(loss && loss->value.numel() == 1,
           "backward() needs a scalar loss, got " + (loss ? loss->value.shape().str() : "null"));
  loss->ensure_grad()[0] += seed;
  for (size_t i = nodes_.size(); i-- > 0;) nodes_[i]();
  nodes_.clear();
}

}  // namespace ds
