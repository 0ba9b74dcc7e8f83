// MaxPool2d and global average pooling layers (engine/kernels/pooling), channels-last. Max
// pooling saves the argmax of every window only when recording, for its backward.
#include <memory>
#include <vector>

#include "base/block_cache.h"
#include "base/error.h"
#include "engine/kernels/pooling.h"
#include "layers/layers.h"

namespace ds {

Shape MaxPool2d::out_shape(const Shape& in) const {
  const std::string who =
      "MaxPool2d(k" + std::to_string(k) + ", s" + std::to_string(stride) + ", p" + std::to_string(pad) + ")";
  DS_CHECK_INPUT(k > 0 && stride > 0 && pad >= 0 && 2 * pad <= k,
                 who + ": padding must be at most half the kernel size");
  DS_CHECK_INPUT(in.ndim == 4 && in[1] + 2 * pad >= k && in[2] + 2 * pad >= k,
                 who + ": input " + in.str() + " does not fit, expected [N, H >= " + std::to_string(k - 2 * pad) +
                     ", W >= " + std::to_string(k - 2 * pad) + ", C]");
  return Shape{in[0], (in[1] + 2 * pad - k) / stride + 1, (in[2] + 2 * pad - k) / stride + 1, in[3]};
}

VarPtr MaxPool2d::forward(Context& ctx, const VarPtr& x) {
  const Shape os = out_shape(x->value.shape());
  const PoolDims d = make_pool_dims(os[0], os[3], x->value.size(1), x->value.size(2), k, stride, pad);
  VarPtr y = make_var(Tensor::empty(os));
  if (!ctx.recording()) {
    maxpool2d_forward(y->value.data(), nullptr, x->value.data(), d);
    return y;
  }
  // Every index is written by the forward pass: an uninitialised block from the block cache
  // (a zero-filled vector would cost a fill and fresh pages every step).
  const size_t bytes = sizeof(int32_t) * (size_t)os.numel();
  std::shared_ptr<int32_t> argmax(static_cast<int32_t*>(block_alloc(bytes)),
                                  [bytes](int32_t* p) { block_free(p, bytes); });
  maxpool2d_forward(y->value.data(), argmax.get(), x->value.data(), d);
  ctx.tape->push([x, y, d, argmax] {
    if (!y->grad.defined()) return;
    bool fresh = false;  // first contributor: the kernel writes instead of adding
    float* d_in = x->grad_to_write(&fresh).data();
    maxpool2d_backward(d_in, y->grad.data(), argmax.get(), d, fresh);
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
