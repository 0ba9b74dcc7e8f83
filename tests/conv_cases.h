// Convolution shapes and random operands shared by the reduced-precision kernel tests
// (test_bf16, test_int8): awkward sizes, channel counts that need padding, partial blocks,
// every ResNet-18 kind of layer.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <vector>

#include <catch2/catch.hpp>

#include "base/rng.h"
#include "base/threads.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/pooling.h"

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

// The output written over its residual (ep.residual == out, as ResNet inference does where a
// block's input dies with the add) holds what a separate output got, bit for bit: each output is
// stored once, from its residual at the same place. run(out, ep) runs the kernel; without a
// residual in ep, nothing to check.
template <class Run>
void check_over_residual(const ConvEpilogue& ep, const std::vector<float>& res, const std::vector<float>& separate,
                         Run run) {
  if (!ep.residual) return;
  std::vector<float> y = res;
  ConvEpilogue over = ep;
  over.residual = y.data();
  run(y.data(), over);
  CHECK(y == separate);
}

// run(y1) on one thread, then run(y2) on two, the thread count restored after.
template <class Run>
void run_on_1_and_2_threads(float* y1, float* y2, Run run) {
  const int before = num_threads();
  set_num_threads(1);
  run(y1);
  set_num_threads(2);
  run(y2);
  set_num_threads(before);
}

// A fast kernel's results do not depend on the thread count (1 and 2, bit for bit), and on the
// path `below` (avx2 unless given; where `available` turns false) the dispatch runs the reference twin.
// run(out) runs the dispatching kernel, ref(out) the twin, on the same operands.
template <class Run, class Ref>
void check_threads_and_dispatch(size_t n_out, Run run, Ref ref, bool (*available)(), Isa below = Isa::avx2) {
  std::vector<float> y1(n_out), y2(n_out), y3(n_out), y4(n_out);
  run_on_1_and_2_threads(y1.data(), y2.data(), run);
  CHECK(y1 == y2);
  const Isa isa = cpu_isa();
  force_isa(below);
  CHECK(!available());
  run(y3.data());
  ref(y4.data());
  force_isa(isa);
  CHECK(y3 == y4);
}

// The stem's max pool (3x3, stride 2, padding 1) fused into the convolution (ConvEpilogue's
// max_pool) equals the convolution then maxpool2d_forward, bit for bit: the tiles compute each
// pixel alike whichever band or tile holds it, and a maximum is exact. run(out, x, w, d, ep)
// packs w and runs one kernel (or its twin) with ep as given. The shapes: conv1's, small (three
// bands of 4 pooled rows, the last one short), one of three bands with 40 channels (NV = 3), a stride-1 one with C = 8,
// a 3x3 output pooled to 2x2, one with C = 20 (the fp32 convolution's tapwise schedule) and a 1x1
// (the paths that pool after a whole pass); the even ones with ReLU, the odd ones without
// (negative maxima). band_rows: the pool's rows per band (PoolDims::band_rows; 0: the L2-sized
// choice, one band for images this small).
struct PoolCase {
  int64_t N, C, H, W, OC, k, stride, pad, band_rows;
};
constexpr PoolCase kPoolCases[] = {{2, 3, 37, 37, 64, 7, 2, 3, 4},  {1, 3, 70, 45, 40, 7, 2, 3, 7},
                                   {3, 8, 16, 9, 16, 3, 1, 1, 2},   {1, 4, 3, 3, 20, 3, 1, 1, 0},
                                   {2, 20, 35, 12, 24, 3, 1, 1, 3}, {1, 16, 9, 9, 16, 1, 1, 0, 0},
                                   {2, 3, 37, 37, 64, 7, 2, 3, 0}};

template <class Run>
void check_pool_fusion(const char* name, Run run) {
  Rng rng(9);
  int i = 0;
  for (const PoolCase& c : kPoolCases) {
    const ConvDims d = make_conv_dims(c.N, c.C, c.H, c.W, c.OC, c.k, c.k, c.stride, c.pad);
    PoolDims pd = make_pool_dims(d.N, d.OC, d.OH, d.OW, 3, 2, 1);
    pd.band_rows = c.band_rows;
    const std::vector<float> x = randn(d.N * d.H * d.W * d.C, rng), w = randn(d.KH * d.KW * d.C * d.OC, rng),
                             b = randn(d.OC, rng);
    ConvEpilogue ep;
    ep.bias = b.data();
    ep.relu = i++ % 2 == 0;
    std::vector<float> full((size_t)(d.N * d.OH * d.OW * d.OC)), want((size_t)(pd.N * pd.OH * pd.OW * pd.C));
    std::vector<float> got(want.size(), 7.f);
    run(full.data(), x, w, d, ep);
    maxpool2d_forward(want.data(), nullptr, full.data(), pd);
    ep.max_pool = &pd;
    run(got.data(), x, w, d, ep);
    INFO(name << " N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC << " k=" << c.k
              << " -> pooled " << pd.OH << "x" << pd.OW);
    CHECK(std::memcmp(got.data(), want.data(), 4 * got.size()) == 0);
  }
  std::printf("%s: the max pool fused into the convolution equals the two passes bit for bit on %zu shapes\n", name,
              std::size(kPoolCases));
}

}  // namespace ds::test
