// c ? a : b for floats and doubles as bit operations. GCC 12 (no -ffast-math) does not vectorise
// a loop with a floating-point conditional ("control flow in loop", -fopt-info-vec), but does
// vectorise integer masks: the per-pixel loops of stain/ compute both arms, then select.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace ds {

template <class F>
inline F bit_select(bool c, F a, F b) {
  static_assert(std::is_floating_point_v<F> && (sizeof(F) == 4 || sizeof(F) == 8));
  using U = std::conditional_t<sizeof(F) == 4, uint32_t, uint64_t>;
  U ua, ub;
  std::memcpy(&ua, &a, sizeof(F));
  std::memcpy(&ub, &b, sizeof(F));
  const U m = U(0) - (U)c, r = (ua & m) | (ub & ~m);
  F out;
  std::memcpy(&out, &r, sizeof(F));
  return out;
}

}  // namespace ds
