// Conv2d layer: shape checks, parameters named after torchvision keys, the forward (direct, or
// Winograd for the 3x3 stride-1 shapes use_winograd picks) and the tape node that routes
// gradients through engine/kernels/conv and conv_winograd (channels-last activations).

#include <map>
#include <tuple>

#include "base/error.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/conv_winograd.h"
#include "layers/layers.h"

namespace ds {

namespace {

// This thread's transformed filters per (pass, C, OC), overwritten by every call of that shape:
// a layer's transform is used within the call that makes it, and reusing the buffer spares a
// fresh allocation (page-faulted in anew) per forward and per backward.
ConvWinogradWeights& winograd_buffer(bool backward_data, int64_t C, int64_t OC) {
  thread_local std::map<std::tuple<bool, int64_t, int64_t>, ConvWinogradWeights> buffers;
  return buffers[{backward_data, C, OC}];
}

}  // namespace

Conv2d::Conv2d(const std::string& name, int64_t C_, int64_t OC_, int64_t k, int64_t stride_, int64_t pad_, bool bias_)
    : C(C_), OC(OC_), KH(k), KW(k), stride(stride_), pad(pad_), has_bias(bias_) {
  DS_CHECK_INPUT(C > 0 && OC > 0 && k > 0 && stride > 0 && pad >= 0,
                 "Conv2d " + name + ": invalid configuration C=" + std::to_string(C) + " OC=" + std::to_string(OC) +
                     " k=" + std::to_string(k) + " stride=" + std::to_string(stride) + " pad=" + std::to_string(pad));
  weight = Param(join_name(name, "weight"), Shape{KH, KW, C, OC}, ParamLayout::conv_hwio);
  if (has_bias) bias = Param(join_name(name, "bias"), Shape{OC});
}

Shape Conv2d::out_shape(const Shape& in) const {
  const std::string expect = "[N, H >= " + std::to_string(KH - 2 * pad) + ", W >= " + std::to_string(KW - 2 * pad) +
                             ", " + std::to_string(C) + "]";
  const std::string who = "Conv2d " + weight.name + " (" + std::to_string(C) + "->" + std::to_string(OC) + ", k" +
                          std::to_string(KH) + ", s" + std::to_string(stride) + ", p" + std::to_string(pad) + ")";
  DS_CHECK_INPUT(in.ndim == 4 && in[3] == C && in[1] + 2 * pad >= KH && in[2] + 2 * pad >= KW,
                 who + ": input " + in.str() + " does not fit, expected " + expect);
  return Shape{in[0], conv_out_size(in[1], KH, stride, pad), conv_out_size(in[2], KW, stride, pad), OC};
}

VarPtr Conv2d::forward(Context& ctx, const VarPtr& x, double* channel_sums) {
  const double started = conv_log_now();
  const Shape os = out_shape(x->value.shape());
  const ConvDims d = make_conv_dims(os[0], C, x->value.size(1), x->value.size(2), OC, KH, KW, stride, pad);
  VarPtr y = make_var(Tensor::empty(os));
  ConvEpilogue ep;
  ep.bias = has_bias ? bias.value.data() : nullptr;
  ep.channel_sums = channel_sums;
  if (use_winograd(d)) {
    // No weight version to key a cache on: the transform (about 300 flops and 36 floats written
    // per filter, against the convolution's 2 x 9 x N x OH x OW flops per filter) is redone per
    // call, so it always follows the weights.
    conv2d_forward_winograd_per_call(y->value.data(), x->value.data(), weight.value.data(),
                                     winograd_buffer(false, C, OC), d, ep);
    log_conv_algo(*this, d, "winograd", started);
  } else {
    conv2d_forward(y->value.data(), x->value.data(), weight.value.data(), d, ep);
    log_conv_algo(*this, d, "direct", started);
  }
  if (ctx.recording()) {
    ctx.tape->push(
        [this, x, y, d, w = weight.value, d_w = weight.grad, d_b = has_bias ? bias.grad : Tensor()]() mutable {
          if (!y->grad.defined()) return;  // nothing downstream used this output
          // Whatever ran the forward (the gradients of a convolution do not depend on how its
          // output was computed): each gradient by Winograd where use_winograd_backward_weights /
          // _data picks the shape (filters transformed per call), else direct.
          float* db = d_b.defined() ? d_b.data() : nullptr;
          double started = conv_log_now();
          if (use_winograd_backward_weights(d)) {
            conv2d_backward_weights_winograd(d_w.data(), db, y->grad.data(), x->value.data(), d);
            log_conv_algo(*this, d, "winograd", started, "/bwd_weights");
          } else {
            conv2d_backward_weights(d_w.data(), db, y->grad.data(), x->value.data(), d);
            log_conv_algo(*this, d, "direct", started, "/bwd_weights");
          }
          if (x->needs_grad) {
            started = conv_log_now();
            bool fresh = false;                             // first contributor: the kernel writes instead of adding
            float* d_in = x->grad_to_write(&fresh).data();  // (sets fresh: not in the same call)
            if (use_winograd_backward_data(d)) {
              conv2d_backward_data_winograd_per_call(d_in, y->grad.data(), w.data(), winograd_buffer(true, d.C, d.OC),
                                                     d, fresh);
              log_conv_algo(*this, d, "winograd", started, "/bwd_data");
            } else {
              conv2d_backward_data(d_in, y->grad.data(), w.data(), d, fresh);
              log_conv_algo(*this, d, "direct", started, "/bwd_data");
            }
          }
        },
        {&weight, has_bias ? &bias : nullptr});
  }
  return y;
}

void Conv2d::collect(ParamSet& ps) {
  ps.params.push_back(&weight);
  if (has_bias) ps.params.push_back(&bias);
}

}  // namespace ds
