// The layout conversions at the network's edges: images arrive NCHW (make_batch, PyTorch's
// convention), the layers run channels-last, Grad-CAM reads features NCHW.
#include "engine/error.h"
#include "engine/kernels/layout.h"
#include "layers/layers.h"

namespace ds {

VarPtr to_channels_last(Context& ctx, const VarPtr& x) {
  const Shape& s = x->value.shape();
  DS_CHECK_INPUT(s.ndim == 4, "to_channels_last: input " + s.str() + " is not [N, C, H, W]");
  const int64_t N = s[0], C = s[1], HW = s[2] * s[3];
  VarPtr y = make_var(Tensor::empty(Shape{N, s[2], s[3], C}));
  y->needs_grad = x->needs_grad;
  nchw_to_nhwc(y->value.data(), x->value.data(), N, C, HW);
  if (ctx.recording() && x->needs_grad) {
    ctx.tape->push([x, y, N, C, HW] {
      if (!y->grad.defined()) return;
      nhwc_to_nchw(x->ensure_grad().data(), y->grad.data(), N, C, HW, true);
    });
  }
  return y;
}

VarPtr to_channels_first(Context& ctx, const VarPtr& x) {
  const Shape& s = x->value.shape();
  DS_CHECK_INPUT(s.ndim == 4, "to_channels_first: input " + s.str() + " is not [N, H, W, C]");
  const int64_t N = s[0], C = s[3], HW = s[1] * s[2];
  VarPtr y = make_var(Tensor::empty(Shape{N, C, s[1], s[2]}));
  y->needs_grad = x->needs_grad;
  nhwc_to_nchw(y->value.data(), x->value.data(), N, C, HW);
  if (ctx.recording() && x->needs_grad) {
    ctx.tape->push([x, y, N, C, HW] {
      if (!y->grad.defined()) return;
      nchw_to_nhwc(x->ensure_grad().data(), y->grad.data(), N, C, HW, true);
    });
  }
  return y;
}

}  // namespace ds
