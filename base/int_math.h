// Integer division that rounds down or up (C++'s / truncates toward zero) and rounding up to a
// multiple: the arithmetic of cutting work into blocks and sizes into whole vectors.
#pragma once
#include <cstdint>

namespace ds {

// floor(a / b) for b > 0, whatever the sign of a.
constexpr int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// ceil(a / b) for b > 0, whatever the sign of a.
constexpr int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// The smallest multiple of b that is at least a (a >= 0, b > 0).
constexpr int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

}  // namespace ds
