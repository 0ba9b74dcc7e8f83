// One bf16 tile instance (engine/kernels/conv_bf16.h's ConvBf16Kernels) against the reference twin
// on the shared awkward shapes (tests/conv_cases.h) and on rows wider than the AMX tile's 16
// pixels, where A is loaded straight from the input: shared by test_bf16 (the AMX tile on emulated
// registers) and test_amx (on the hardware).
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <vector>

#include "base/rng.h"
#include "conv_cases.h"
#include "engine/kernels/conv_bf16.h"

namespace ds::test {

inline void check_bf16_tiles(const ConvBf16Kernels& k, const char* name) {
  Rng rng(6);
  double worst = 0;
  std::vector<Case> cases(std::begin(kCases), std::end(kCases));
  cases.push_back({1, 32, 20, 40, 32, 3, 1, 1, true});  // stride 1: pixels C apart
  cases.push_back({2, 16, 9, 70, 80, 3, 2, 1, false});  // stride 2: 2C apart, NV = 4 then 1
  cases.push_back({1, 40, 6, 50, 48, 1, 1, 0, true});   // 1x1: kg 20, a run of 16 and a tail
  for (const Case& c : cases) {
    const ConvDims d = dims(c);
    auto [x, w, b, res, n_out] = operands(d, rng);
    const ConvBf16Weights p = pack_conv_bf16(w.data(), nullptr, d.KH, d.KW, d.C, d.OC);
    const ConvEpilogue ep = epilogue(c, b, res);
    std::vector<float> y1((size_t)n_out, 7.f), y2((size_t)n_out, -7.f);
    conv2d_forward_bf16_on(k, y1.data(), x.data(), p, d, ep);
    conv2d_forward_bf16_ref(y2.data(), x.data(), p, d, ep);
    const double e = rel_err(y1, y2);
    INFO(name << " N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC << " k=" << c.k
              << " s=" << c.stride << " p=" << c.pad << " err " << e);
    // The same exact products, summed in fp32 (tiles) or double (twin): fp32 summation error.
    CHECK(e < 2e-6 * std::sqrt((double)(d.KH * d.KW * d.C)));
    worst = std::max(worst, e);
  }
  std::printf("conv2d_forward_bf16 (%s) vs ref: max relative error %.3g\n", name, worst);
}

}  // namespace ds::test
