// ParamSet helpers.
#include "layers/module.h"

namespace ds {

void zero_grads(const ParamSet& ps) {
  for (Param* p : ps.params) p->grad.zero();
}

}  // namespace ds
