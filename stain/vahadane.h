// Vahadane et al. 2016, "Structure-preserving color normalization and sparse stain separation
// for histological images" (IEEE TMI): the stain matrix by sparse non-negative matrix
// factorisation of the tissue's optical density, OD ~= C * D with C >= 0, D >= 0, each stain
// vector of norm <= 1 and an l1 penalty lambda on the concentrations C:
//   min 0.5 * ||OD - C D||^2 + lambda * sum(C),
// solved as dictionary learning (Mairal et al. 2010, as scikit-learn's dict_learning and SPAMS'
// trainDL): alternately every pixel's non-negative lasso code (exact here: two atoms, closed form)
// and one block-coordinate pass over the two atoms, until the cost falls by less than tol of itself.
// The problem is not convex, so the start decides the answer: it starts from the window's Macenko
// vectors (negative parts clipped), which the oracle (scripts/gen_stain_fixtures.py) shares.
// Tissue and OD are Macenko's (OD >= beta in every channel, light intensity Io), taken at an even
// stride to at most kVahadaneMaxPixels; the concentrations, their scale and the redraw are the
// shared two-stain steps (stain/two_stain.h), least squares as TIAToolbox's normaliser does.
#pragma once
#include <array>

#include "base/rgb_image.h"
#include "stain/two_stain.h"

namespace ds {

constexpr double kVahadaneLambda = 0.1;  // the paper's sparsity weight
constexpr double kVahadaneTol = 1e-6;    // relative fall of the cost that ends the iterations
constexpr int kVahadaneMaxIter = 200;
constexpr int kVahadaneMaxPixels = 2048;  // tissue pixels the factorisation sees, at most

// ok false: Macenko's start failed (too little tissue), or a degenerate estimate.
struct VahadaneFit : TwoStainFit {
  int iterations = 0;
};

VahadaneFit vahadane_fit(const RgbImage& img);

}  // namespace ds
