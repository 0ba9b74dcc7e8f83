// The per-pixel-block loops of the BatchNorm kernels (batchnorm.cpp), compiled once per ISA from
// bn_loops.inc (bn_loops_avx512.cpp, bn_loops_avx2.cpp, bn_loops_generic.cpp) and picked at run
// time: memory-bound passes over [P, C] channels-last activations, whose double sums run a whole
// AVX2 or AVX-512 vector wide where the baseline SSE2 build takes two doubles at a time. Each
// works on pixels [p0, p1) and all C channels; sums are written (not added) in double.
// Arguments: activations and their gradients (x, y, dy, out, res, dx, dr) are [P, C]; per-channel
// vectors (mean, scale, shift, a, b, cst) are [C]; sums s, s2 are [C] doubles.
#pragma once
#include <cstdint>

#include "engine/cpu_features.h"

namespace ds {

struct BnLoops {
  // s[c] = sum_p x[p][c]; with mean: sum_p (x[p][c] - mean[c])^2.
  void (*sums)(double* s, const float* x, const double* mean, int64_t p0, int64_t p1, int64_t C);
  // g = dy masked by out > 0 (out may be null): s[c] = sum_p g, s2[c] = sum_p g * (x - mean[c]).
  void (*grad_sums)(double* s, double* s2, const float* dy, const float* out, const float* x, const float* mean,
                    int64_t p0, int64_t p1, int64_t C);
  // Over tiles [t0, t1) of a convolution's partials (tile_sums.h: tile t's sums at parts + 2 * t *
  // ld, its sums of squares ld further): s[c] = the sum of the sums, s2[c] of the squares.
  void (*tile_sums)(double* s, double* s2, const double* parts, int64_t ld, int64_t t0, int64_t t1, int64_t C);
  // y = scale * x + shift (+ res) (max 0 if relu).
  void (*normalize)(float* y, const float* x, const float* scale, const float* shift, const float* res, bool relu,
                    int64_t p0, int64_t p1, int64_t C);
  // dx += a * g + b * x + cst; dr += g (dr may be null), g as in grad_sums; = instead of +=
  // for dx if set_dx, for dr if set_dr.
  void (*backward)(float* dx, float* dr, const float* dy, const float* out, const float* x, const float* a,
                   const float* b, const float* cst, bool set_dx, bool set_dr, int64_t p0, int64_t p1, int64_t C);
};

const BnLoops& bn_loops(Isa isa);
inline const BnLoops& bn_loops() { return bn_loops(cpu_isa()); }

const BnLoops& bn_loops_avx512();
const BnLoops& bn_loops_avx2();
const BnLoops& bn_loops_generic();

}  // namespace ds
