// ParamSet helpers.
#include "layers/module.h"

#include <algorithm>

#include "base/error.h"
#include "engine/kernels/layout.h"

namespace ds {

void zero_grads(const ParamSet& ps) {
  for (Param* p : ps.params) p->grad.zero();
}

Shape file_shape(const Param& p) {
  const Shape& s = p.value.shape();
  if (p.layout == ParamLayout::same) return s;
  return Shape{s[3], s[2], s[0], s[1]};  // [KH, KW, C, OC] -> [OC, C, KH, KW]
}

Tensor to_file_layout(const Param& p, const Tensor& t) {
  DS_CHECK(t.shape() == p.value.shape(), "to_file_layout: " + p.name + " shape mismatch");
  if (p.layout == ParamLayout::same) return t.clone();
  const Shape& s = t.shape();
  Tensor out = Tensor::empty(file_shape(p));
  hwio_to_oihw(out.data(), t.data(), s[3], s[2], s[0], s[1]);
  return out;
}

void from_file_layout(const Param& p, const float* src, Tensor& dst) {
  DS_CHECK(dst.shape() == p.value.shape(), "from_file_layout: " + p.name + " shape mismatch");
  const Shape& s = dst.shape();
  if (p.layout == ParamLayout::same) std::copy(src, src + s.numel(), dst.data());
  else oihw_to_hwio(dst.data(), src, s[3], s[2], s[0], s[1]);
}

}  // namespace ds
