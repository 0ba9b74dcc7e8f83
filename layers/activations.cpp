// Elementwise ops of the network: ReLU and the residual add (engine/kernels/elementwise).
#include "base/error.h"
#include "engine/kernels/elementwise.h"
#include "layers/layers.h"

namespace ds {

VarPtr relu(Context& ctx, const VarPtr& x) {
  const int64_t n = x->value.numel();
  VarPtr y = make_var(Tensor::empty(x->value.shape()));
  relu_forward(y->value.data(), x->value.data(), n);
  if (ctx.recording()) {
    ctx.tape->push([x, y, n] {
      if (!y->grad.defined()) return;
      relu_backward(x->ensure_grad().data(), y->grad.data(), y->value.data(), n);
    });
  }
  return y;
}

VarPtr add(Context& ctx, const VarPtr& a, const VarPtr& b) {
  DS_CHECK_INPUT(a->value.shape() == b->value.shape(),
                 "add: shapes " + a->value.shape().str() + " and " + b->value.shape().str() + " differ");
  const int64_t n = a->value.numel();
  VarPtr y = make_var(Tensor::empty(a->value.shape()));
  add_forward(y->value.data(), a->value.data(), b->value.data(), n);
  if (ctx.recording()) {
    ctx.tape->push([a, b, y, n] {
      if (!y->grad.defined()) return;
      accumulate(a->ensure_grad().data(), y->grad.data(), n);
      accumulate(b->ensure_grad().data(), y->grad.data(), n);
    });
  }
  return y;
}

}  // namespace ds
