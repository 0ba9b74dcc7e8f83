// Linear layer (nn.Linear): y = x W^T + b through engine/kernels/linear.
#include "engine/kernels/linear.h"
#include "base/error.h"
#include "layers/layers.h"

namespace ds {

Linear::Linear(const std::string& name, int64_t in_, int64_t out_) : in(in_), out(out_) {
  DS_CHECK_INPUT(in > 0 && out > 0,
                 "Linear " + name + ": invalid size " + std::to_string(in) + " -> " + std::to_string(out));
  weight = Param(join_name(name, "weight"), Shape{out, in});
  bias = Param(join_name(name, "bias"), Shape{out});
}

Shape Linear::out_shape(const Shape& s) const {
  DS_CHECK_INPUT(s.ndim == 2 && s[1] == in, "Linear " + weight.name + ": input " + s.str() +
                                                " does not fit, expected [N, " + std::to_string(in) + "]");
  return Shape{s[0], out};
}

VarPtr Linear::forward(Context& ctx, const VarPtr& x) {
  const Shape os = out_shape(x->value.shape());
  const int64_t N = os[0];
  VarPtr y = make_var(Tensor::empty(os));
  linear_forward(y->value.data(), x->value.data(), weight.value.data(), bias.value.data(), N, in, out);
  if (ctx.recording()) {
    ctx.tape->push(
        [x, y, N, IN = in, OUT = out, w = weight.value, d_w = weight.grad, d_b = bias.grad]() mutable {
          if (!y->grad.defined()) return;
          linear_backward(x->ensure_grad().data(), d_w.data(), d_b.data(), y->grad.data(), x->value.data(), w.data(), N,
                          IN, OUT);
        },
        {&weight, &bias});
  }
  return y;
}

void Linear::collect(ParamSet& ps) {
  ps.params.push_back(&weight);
  ps.params.push_back(&bias);
}

}  // namespace ds
