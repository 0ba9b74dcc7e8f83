// One instance of the reduced-precision tiles (engine/kernels/conv_bf16.h's ConvBf16Kernels,
// conv_int8.h's ConvInt8Kernels) against the reference twin, on the shared awkward shapes
// (tests/conv_cases.h) and on rows wider than the AMX tile's 16 pixels, where A is loaded straight
// from the input: shared by test_bf16 and test_int8 (the AMX tiles on emulated registers) and
// test_amx (on the hardware).
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <vector>

#include "base/rng.h"
#include "conv_cases.h"
#include "engine/kernels/conv_bf16.h"
#include "engine/kernels/conv_int8.h"

namespace ds::test {

// kCases, three shapes with output rows wider than 16 pixels, and one with many pixel groups.
inline std::vector<Case> tile_cases() {
  std::vector<Case> cases(std::begin(kCases), std::end(kCases));
  cases.push_back({1, 32, 20, 40, 32, 3, 1, 1, true});  // stride 1: pixels C apart
  cases.push_back({2, 16, 9, 70, 80, 3, 2, 1, false});  // stride 2: 2C apart, NV = 4 then 1
  cases.push_back({1, 40, 6, 50, 48, 1, 1, 0, true});   // 1x1: a run of 16 groups and a tail
  // 12 pixel groups of 2 blocks whose weights fit L2 together: a group's blocks are one work
  // item (lowp_conv_forward's groups_outer), the residual read by blocks in turn.
  cases.push_back({2, 16, 24, 24, 96, 3, 1, 1, true});
  return cases;
}

inline void check_bf16_tiles(const ConvBf16Kernels& k, const char* name) {
  Rng rng(6);
  double worst = 0;
  for (const Case& c : tile_cases()) {
    const ConvDims d = dims(c);
    auto [x, w, b, res, n_out] = operands(d, rng);
    const ConvBf16Weights p = pack_conv_bf16(w.data(), nullptr, d.KH, d.KW, d.C, d.OC);
    const ConvEpilogue ep = epilogue(c, b, res);
    std::vector<float> y1((size_t)n_out, 7.f), y2((size_t)n_out, -7.f);
    conv2d_forward_bf16_on(k, y1.data(), x.data(), p, d, ep);
    conv2d_forward_bf16_ref(y2.data(), x.data(), p, d, ep);
    check_over_residual(ep, res, y1,
                        [&](float* y, const ConvEpilogue& e) { conv2d_forward_bf16_on(k, y, x.data(), p, d, e); });
    const double e = rel_err(y1, y2);
    INFO(name << " N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC << " k=" << c.k
              << " s=" << c.stride << " p=" << c.pad << " err " << e);
    // The same exact products, summed in fp32 (tiles) or double (twin): fp32 summation error.
    CHECK(e < 2e-6 * std::sqrt((double)(d.KH * d.KW * d.C)));
    worst = std::max(worst, e);
  }
  std::printf("conv2d_forward_bf16 (%s) vs ref: max relative error %.3g\n", name, worst);
}

// Bit for bit (int32 sums are exact): inputs per tensor over [0, 1.5] and over [-2.25, 1.5] (a
// zero point), and per channel with fractional zero points (the padding's per-pixel biases).
inline void check_int8_tiles(const ConvInt8Kernels& k, const char* name) {
  Rng rng(5);
  int shapes = 0;
  for (const Case& c : tile_cases())
    for (int mode = 0; mode < 3; ++mode) {
      const ConvDims d = dims(c);
      auto [x, w, b, res, n_out] = operands(d, rng, mode == 0);
      Int8Input in = Int8Input::range(d.C, 1.5f, mode == 1 ? -2.25f : 0.0f);
      if (mode == 2)
        for (int64_t ci = 0; ci < d.C; ++ci)
          in.scale[(size_t)ci] = 0.01f + 0.003f * (float)ci, in.zero[(size_t)ci] = 100.25f + 3.5f * (float)(ci % 7);
      const ConvInt8Weights p = pack_conv_int8(w.data(), nullptr, d.KH, d.KW, d.C, d.OC, in);
      const ConvEpilogue ep = epilogue(c, b, res);
      std::vector<float> y1((size_t)n_out, 7.f), y2((size_t)n_out, -7.f);
      conv2d_forward_int8_on(k, y1.data(), x.data(), p, d, ep);
      conv2d_forward_int8_ref(y2.data(), x.data(), p, d, ep);
      INFO(name << " N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC << " k=" << c.k
                << " s=" << c.stride << " p=" << c.pad << " inputs " << mode);
      CHECK(std::memcmp(y1.data(), y2.data(), 4 * y1.size()) == 0);
      ++shapes;
    }
  std::printf("conv2d_forward_int8 (%s) equals ref bit for bit on %d shapes and quantizations\n", name, shapes);
}

}  // namespace ds::test
