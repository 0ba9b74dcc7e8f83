// MaxPool2d and global average pooling layers (engine/kernels/pooling), channels-last. Max
// pooling saves the argmax of every window only when recording, for its backward.
#include <memory>
#include <vector>

#include "engine/error.h"
#include "engine/kernels/pooling.h"
#include "layers/layers.h"

namespace ds {

Shape MaxPool2d::out_shape(const Shape& in) const {
  const std::string who = "MaxPool2d(k" + std::to_string(k) + ", s" + std::to_string(stride) +
                          ", p" + std::to_string(pad) + ")";
  DS_CHECK_INPUT(k > 0 && stride > 0 && pad >= 0 && 2 * pad <= k,
                 who + ": padding must be at most half the kernel size");
  DS_CHECK_INPUT(in.ndim == 4 && in[1] + 2 * pad >= k && in[2] + 2 * pad >= k,
                 who + ": input " + in.str() + " does not fit, expected [N, H >= " +
                     std::to_string(k - 2 * pad) + ", W >= " + std::to_string(k - 2 * pad) +
                     ", C]");
  return Shape{in[0], (in[1] + 2 * pad - k) / stride + 1, (in[2] + 2 * pad - k) / stride + 1,
               in[3]};
}

VarPtr MaxPool2d::forward(Context& ctx, const VarPtr& x) {
  const Shape os = out_shape(x->value.shape());
  const PoolDims d = make_pool_dims(os[0], os[3], x->value.size(1), x->value.size(2), k, stride,
                                    pad);
  VarPtr y = make_var(Tensor::empty(os));
  if (!ctx.recording()) {
    maxpool2d_forward(y->value.data(), nullptr, x->value.data(), d);
    return y;
  }
  auto argmax = std::make_shared<std::vector<int32_t>>(os.numel());
  maxpool2d_forward(y->value.data(), argmax->data(), x->value.data(), d);
  ctx.tape->push([x, y, d, argmax] {
    if (!y->grad.defined()) return;
    maxpool2d_backward(x->ensure_grad().data(), y->grad.data(), argmax->data(), d);
  });
  return y;
}

VarPtr global_avg_pool(Context& ctx, const VarPtr& x) {
  const Shape& s = x->value.shape();
  DS_CHECK_INPUT(s.ndim == 4 && s[1] * s[2] > 0,
                 "global_avg_pool: input " + s.str() + " does not fit, expected [N, H, W, C]");
  const int64_t N = s[0], C = s[3], HW = s[1] * s[2];
  VarPtr y = make_var(Tensor::empty(Shape{N, C}));
  global_avg_pool_forward(y->value.data(), x->value.data(), N, C, HW);
  if (ctx.recording()) {
    ctx.tape->push([x, y, N, C, HW] {
      if (!y->grad.defined()) return;
      global_avg_pool_backward(x->ensure_grad().data(), y->grad.data(), N, C, HW);
    });
  }
  return y;
}

}  // namespace ds
