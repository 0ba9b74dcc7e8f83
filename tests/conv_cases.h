// Convolution shapes and random operands shared by the reduced-precision kernel tests
// (test_bf16, test_int8): awkward sizes, channel counts that need padding, partial blocks,
// every ResNet-18 kind of layer.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

#include "base/rng.h"
#include "base/threads.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv.h"

namespace ds::test {

inline std::vector<float> randn(int64_t n, Rng& rng) {
  std::vector<float> v((size_t)n);
  for (auto& x : v) x = rng.normal();
  return v;
}

// max |a - b| / (1 + max |b|): an error relative to the result's scale.
inline double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0, scale = 1;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs((double)a[i] - b[i]);
    if (!(d <= m)) m = d;
    scale = std::max(scale, 1.0 + std::fabs((double)b[i]));
  }
  return m / scale;
}

struct Case {
  int64_t N, C, H, W, OC, k, stride, pad;
  bool epilogue;
};
inline const Case kCases[] = {
    {1, 3, 17, 15, 5, 7, 2, 3, true},    // conv1-like: 3 channels padded to 4, batch 1, odd sizes
    {2, 3, 31, 30, 64, 7, 2, 3, true},   // conv1 shape, one full block
    {2, 5, 9, 11, 7, 3, 1, 1, false},    // odd channels, 3x3 same padding
    {3, 13, 7, 7, 17, 1, 1, 0, true},    // 1x1, OC past a vector
    {2, 6, 8, 9, 10, 1, 2, 0, false},    // downsample 1x1 stride 2
    {2, 4, 10, 10, 3, 3, 2, 1, true},    // 3x3 stride 2
    {1, 2, 3, 3, 2, 3, 1, 0, false},     // 1x1 output
    {2, 3, 5, 4, 2, 7, 2, 3, false},     // kernel larger than the input
    {2, 64, 14, 14, 64, 3, 1, 1, true},  // a ResNet layer
    {1, 70, 9, 13, 40, 3, 1, 1, false},  // NV = 3, channels not a multiple of 16
    {2, 33, 11, 11, 70, 3, 2, 1, true},  // two blocks, the last partial
    {3, 48, 7, 7, 96, 1, 2, 0, false},   // downsample on an odd map, NV = 4 then 2 padded
    {1, 16, 6, 6, 16, 3, 1, 2, false},   // padding larger than "same", NV = 1
    {2, 20, 6, 7, 520, 3, 2, 1, true},   // 9 blocks, the last partial
    {1, 512, 7, 7, 128, 3, 1, 1, true},  // layer4's reduction (4608)
    {4, 32, 13, 13, 32, 3, 1, 1, true},  // several pixel groups, a short last tile (NV = 2)
};

inline ConvDims dims(const Case& c) { return make_conv_dims(c.N, c.C, c.H, c.W, c.OC, c.k, c.k, c.stride, c.pad); }

// Whether the kernels under test run on this CPU; if not, a warning in the words ctest's
// SKIP_REGULAR_EXPRESSION (CMakeLists.txt) turns into a skip, never a pass.
inline bool kernels_run(bool available, const char* extension, const char* path = "avx512") {
  if (available) return true;
  WARN("not run: CPU lacks " << extension << " (or DEEPSLIDE_ISA caps the path below " << path << ")");
  return false;
}

// A case's random operands, drawn in this order: input (ReLU'd when nonneg, the inputs int8 sees),
// weights [KH, KW, C, OC], bias, residual; the outputs' count.
struct Operands {
  std::vector<float> x, w, b, res;
  size_t n_out = 0;
};
inline Operands operands(const ConvDims& d, Rng& rng, bool nonneg = false) {
  Operands o;
  o.x = randn(d.N * d.H * d.W * d.C, rng);
  if (nonneg)
    for (float& v : o.x) v = v > 0 ? v : 0.0f;
  o.w = randn(d.KH * d.KW * d.C * d.OC, rng);
  o.b = randn(d.OC, rng);
  o.n_out = (size_t)(d.N * d.OH * d.OW * d.OC);
  o.res = randn((int64_t)o.n_out, rng);
  return o;
}

// The case's epilogue: bias, residual and ReLU when c.epilogue, none otherwise.
inline ConvEpilogue epilogue(const Case& c, const std::vector<float>& bias, const std::vector<float>& residual) {
  ConvEpilogue ep;
  if (c.epilogue) {
    ep.bias = bias.data();
    ep.residual = residual.data();
    ep.relu = true;
  }
  return ep;
}

// A fast kernel's results do not depend on the thread count (1 and 2, bit for bit), and on the
// path `below` (avx2 unless given; where `available` turns false) the dispatch runs the reference twin.
// run(out) runs the dispatching kernel, ref(out) the twin, on the same operands.
template <class Run, class Ref>
void check_threads_and_dispatch(size_t n_out, Run run, Ref ref, bool (*available)(), Isa below = Isa::avx2) {
  std::vector<float> y1(n_out), y2(n_out), y3(n_out), y4(n_out);
  const int before = num_threads();
  set_num_threads(1);
  run(y1.data());
  set_num_threads(2);
  run(y2.data());
  set_num_threads(before);
  CHECK(y1 == y2);
  const Isa isa = cpu_isa();
  force_isa(below);
  CHECK(!available());
  run(y3.data());
  ref(y4.data());
  force_isa(isa);
  CHECK(y3 == y4);
}

}  // namespace ds::test
