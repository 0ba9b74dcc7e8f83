// BatchNorm2d layer: batch statistics and running-stat update in training, running statistics
// in evaluation; the tape node runs the matching backward (engine/kernels/batchnorm).
#include "engine/error.h"
#include "engine/kernels/batchnorm.h"
#include "layers/layers.h"

namespace ds {

BatchNorm2d::BatchNorm2d(const std::string& name, int64_t C_) : C(C_) {
  DS_CHECK_INPUT(C > 0, "BatchNorm2d " + name + ": invalid channel count " + std::to_string(C));
  weight = Param(join_name(name, "weight"), Shape{C});
  bias = Param(join_name(name, "bias"), Shape{C});
  running_mean = Buffer(join_name(name, "running_mean"), Shape{C});
  running_var = Buffer(join_name(name, "running_var"), Shape{C});
  weight.value.fill(1.f);
  running_var.value.fill(1.f);
}

Shape BatchNorm2d::out_shape(const Shape& in) const {
  DS_CHECK_INPUT(in.ndim == 4 && in[1] == C,
                 "BatchNorm2d " + weight.name + ": input " + in.str() +
                     " does not fit, expected [N, " + std::to_string(C) + ", H, W]");
  return in;
}

VarPtr BatchNorm2d::forward(Context& ctx, const VarPtr& x) {
  const Shape s = out_shape(x->value.shape());
  const int64_t N = s[0], HW = s[2] * s[3];
  VarPtr y = make_var(Tensor::empty(s));
  Tensor mean = Tensor::empty(Shape{C}), invstd = Tensor::empty(Shape{C});
  const bool training = ctx.training;
  if (training) {
    // PyTorch refuses too: the variance of a single value is undefined.
    DS_CHECK_INPUT(N * HW > 1, "BatchNorm2d " + weight.name + ": input " + s.str() +
                                   " has fewer than two values per channel; training needs more");
    batchnorm2d_forward_train(y->value.data(), mean.data(), invstd.data(),
                              running_mean.value.data(), running_var.value.data(),
                              x->value.data(), weight.value.data(), bias.value.data(), N, C, HW,
                              momentum, eps);
  } else {
    batchnorm2d_forward_eval(y->value.data(), mean.data(), invstd.data(), x->value.data(),
                             weight.value.data(), bias.value.data(), running_mean.value.data(),
                             running_var.value.data(), N, C, HW, eps);
  }
  if (ctx.recording()) {
    ctx.tape->push([x, y, mean, invstd, training, N, HW, C = C, gamma = weight.value,
                    d_gamma = weight.grad, d_beta = bias.grad]() mutable {
      if (!y->grad.defined()) return;
      batchnorm2d_backward(x->ensure_grad().data(), d_gamma.data(), d_beta.data(),
                           y->grad.data(), x->value.data(), gamma.data(), mean.data(),
                           invstd.data(), N, C, HW, training);
    });
  }
  return y;
}

void BatchNorm2d::collect(ParamSet& ps) {
  ps.params.push_back(&weight);
  ps.params.push_back(&bias);
  ps.buffers.push_back(&running_mean);
  ps.buffers.push_back(&running_var);
}

}  // namespace ds
