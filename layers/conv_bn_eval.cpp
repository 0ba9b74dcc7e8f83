// Inference-time fusion of a convolution with the BatchNorm (and residual add, ReLU) after it:
// w' = w * gamma / sqrt(var + eps) per output channel (applied to each sum in the epilogue),
// b' = beta + (b - mean) * gamma / sqrt(var + eps), and the add and ReLU happen in the
// convolution's epilogue too. Saves the BN pass and its activation tensor on every layer of a
// predict run.
#include <cmath>

#include "base/error.h"
#include "engine/kernels/conv.h"
#include "layers/layers.h"

namespace ds {

VarPtr conv_bn_eval(Context& ctx, const Conv2d& conv, const BatchNorm2d& bn, const VarPtr& x,
                    const VarPtr& residual, bool relu) {
  DS_CHECK(!ctx.recording() && !ctx.training, "conv_bn_eval is for inference only");
  const Shape os = bn.out_shape(conv.out_shape(x->value.shape()));
  if (residual)
    DS_CHECK_INPUT(residual->value.shape() == os, "conv_bn_eval " + conv.weight.name +
                                                      ": residual " +
                                                      residual->value.shape().str() +
                                                      " differs from the output " + os.str());
  const int64_t OC = conv.OC;
  Tensor scale = Tensor::empty(Shape{OC}), b = Tensor::empty(Shape{OC});
  for (int64_t oc = 0; oc < OC; ++oc) {
    const double s = (double)bn.weight.value[oc] /
                     std::sqrt((double)bn.running_var.value[oc] + (double)bn.eps);
    scale[oc] = (float)s;
    const double conv_b = conv.has_bias ? conv.bias.value[oc] : 0.0;
    b[oc] = (float)(bn.bias.value[oc] + (conv_b - bn.running_mean.value[oc]) * s);
  }
  const ConvDims d = make_conv_dims(os[0], conv.C, x->value.size(1), x->value.size(2), OC,
                                    conv.KH, conv.KW, conv.stride, conv.pad);
  VarPtr y = make_var(Tensor::empty(os));
  ConvEpilogue ep;
  ep.weight_scale = scale.data();  // applied to each sum: no scaled copy of the weights
  ep.bias = b.data();
  ep.residual = residual ? residual->value.data() : nullptr;
  ep.relu = relu;
  conv2d_forward(y->value.data(), x->value.data(), conv.weight.value.data(), d, ep);
  return y;
}

VarPtr conv_bn(Context& ctx, Conv2d& conv, BatchNorm2d& bn, const VarPtr& x, const VarPtr& residual,
               bool relu) {
  if (!ctx.recording() && !ctx.training) return conv_bn_eval(ctx, conv, bn, x, residual, relu);
  return bn.forward(ctx, conv.forward(ctx, x), residual, relu);
}

}  // namespace ds
