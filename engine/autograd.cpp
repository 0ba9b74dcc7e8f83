// Tape replay and lazy gradient allocation.
#include "engine/autograd.h"

#include <unordered_map>

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

void Tape::backward(const VarPtr& loss, float seed, GradHook* hook) {
  DS_CHECK(loss && loss->value.numel() == 1,
           "backward() needs a scalar loss, got " + (loss ? loss->value.shape().str() : "null"));
  loss->ensure_grad()[0] += seed;
  // Per node, the parameters complete once it has run: a parameter's last writer in replay
  // order is the first of its writers pushed.
  std::vector<std::vector<Param*>> done(hook ? nodes_.size() : 0);
  if (hook) {
    std::unordered_map<const Param*, size_t> first;
    for (size_t i = 0; i < nodes_.size(); ++i)
      for (Param* p : nodes_[i].writes) first.emplace(p, i);
    for (size_t i = 0; i < nodes_.size(); ++i)
      for (Param* p : nodes_[i].writes)
        if (first.at(p) == i) done[i].push_back(p);
  }
  try {
    for (size_t i = nodes_.size(); i-- > 0;) {
      nodes_[i].fn();
      nodes_[i].fn = nullptr;  // what it held (saved activations, their gradients) can go now
      if (hook) hook->after_node(done[i]);
    }
  } catch (...) {
    nodes_.clear();  // nodes already run are empty: the tape is spent either way
    throw;
  }
  nodes_.clear();
}

}  // namespace ds
