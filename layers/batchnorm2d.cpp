// BatchNorm2d layer: batch statistics and running-stat update in training, running statistics
// in evaluation, optionally fused with a residual add and ReLU; the tape node runs the matching
// backward (engine/kernels/batchnorm). Channels-last input [N, H, W, C].
#include "base/error.h"
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
  DS_CHECK_INPUT(in.ndim == 4 && in[3] == C, "BatchNorm2d " + weight.name + ": input " + in.str() +
                                                 " does not fit, expected [N, H, W, " + std::to_string(C) + "]");
  return in;
}

VarPtr BatchNorm2d::forward(Context& ctx, const VarPtr& x, const VarPtr& residual, bool relu, const double* in_sums) {
  const Shape s = out_shape(x->value.shape());
  if (residual)
    DS_CHECK_INPUT(residual->value.shape() == s, "BatchNorm2d " + weight.name + ": residual " +
                                                     residual->value.shape().str() + " differs from the input " +
                                                     s.str());
  const int64_t P = s[0] * s[1] * s[2];
  VarPtr y = make_var(Tensor::empty(s));
  Tensor mean = Tensor::empty(Shape{C}), invstd = Tensor::empty(Shape{C});
  const bool training = ctx.training;
  BnFuse fuse;
  fuse.residual = residual ? residual->value.data() : nullptr;
  fuse.relu = relu;
  if (training) {
    // PyTorch refuses too: the variance of a single value is undefined. (Synchronized, the
    // batch is every process's slice; the trainer gives each at least one sample.)
    DS_CHECK_INPUT(P > (ctx.bn_sync ? 0 : 1), "BatchNorm2d " + weight.name + ": input " + s.str() +
                                                  " has fewer than two values per channel; training needs more");
    batchnorm_forward_train(y->value.data(), mean.data(), invstd.data(), running_mean.value.data(),
                            running_var.value.data(), x->value.data(), weight.value.data(), bias.value.data(), P, C,
                            momentum, eps, fuse, ctx.bn_sync, in_sums);
  } else {
    batchnorm_forward_eval(y->value.data(), mean.data(), invstd.data(), x->value.data(), weight.value.data(),
                           bias.value.data(), running_mean.value.data(), running_var.value.data(), P, C, eps, fuse);
  }
  if (ctx.recording()) {
    ctx.tape->push(
        [x, y, residual, relu, mean, invstd, training, P, C = C, gamma = weight.value, d_gamma = weight.grad,
         d_beta = bias.grad, sync = ctx.bn_sync]() mutable {
          if (!y->grad.defined()) return;
          bool set_in = false, set_res = false;  // first contributor: write, no zero-fill needed
          float* d_in = x->grad_to_write(&set_in).data();
          float* d_res = residual ? residual->grad_to_write(&set_res).data() : nullptr;
          batchnorm_backward(d_in, d_gamma.data(), d_beta.data(), d_res, y->grad.data(),
                             relu ? y->value.data() : nullptr, x->value.data(), gamma.data(), mean.data(),
                             invstd.data(), P, C, training, set_in, set_res, sync);
        },
        {&weight, &bias});
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
