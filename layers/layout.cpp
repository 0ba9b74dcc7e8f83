// The layout conversions at the network's edges: images arrive NCHW (make_batch, PyTorch's
// convention), the layers run channels-last, Grad-CAM reads features NCHW.
#include "engine/kernels/layout.h"
#include "base/error.h"
#include "layers/layers.h"

namespace ds {

namespace {

using Relayout = void (*)(float*, const float*, int64_t, int64_t, int64_t, bool);

// y = fwd(x) of shape out; the gradient goes back through bwd (the inverse transpose).
VarPtr relayout(Context& ctx, const VarPtr& x, const Shape& out, int64_t N, int64_t C, int64_t HW, Relayout fwd,
                Relayout bwd) {
  VarPtr y = make_var(Tensor::empty(out));
  y->needs_grad = x->needs_grad;
  fwd(y->value.data(), x->value.data(), N, C, HW, false);
  if (ctx.recording() && x->needs_grad) {
    ctx.tape->push([x, y, N, C, HW, bwd] {
      if (!y->grad.defined()) return;
      bwd(x->ensure_grad().data(), y->grad.data(), N, C, HW, true);
    });
  }
  return y;
}

}  // namespace

VarPtr to_channels_last(Context& ctx, const VarPtr& x) {
  const Shape& s = x->value.shape();
  DS_CHECK_INPUT(s.ndim == 4, "to_channels_last: input " + s.str() + " is not [N, C, H, W]");
  return relayout(ctx, x, Shape{s[0], s[2], s[3], s[1]}, s[0], s[1], s[2] * s[3], nchw_to_nhwc, nhwc_to_nchw);
}

VarPtr to_channels_first(Context& ctx, const VarPtr& x) {
  const Shape& s = x->value.shape();
  DS_CHECK_INPUT(s.ndim == 4, "to_channels_first: input " + s.str() + " is not [N, H, W, C]");
  return relayout(ctx, x, Shape{s[0], s[3], s[1], s[2]}, s[0], s[3], s[1] * s[2], nhwc_to_nchw, nchw_to_nhwc);
}

}  // namespace ds
