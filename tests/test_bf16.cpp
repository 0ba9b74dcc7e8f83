// bf16 inference (engine/kernels/conv_bf16.h): to_bf16's rounding, the packing, the reference
// twin against the fp32 reference convolution of the rounded operands, the AVX512-BF16 kernel
// and the AMX-BF16 tile on emulated tile registers against the twin on awkward shapes (and its rounding pass against
// to_bf16, bit for bit), thread independence, and a whole ResNet-18 at bf16 against fp32. On a CPU without AVX512-BF16
// the kernel and ResNet cases print "not run: CPU lacks AVX512-BF16" and ctest reports this executable as skipped
// (CMakeLists.txt's SKIP_REGULAR_EXPRESSION), never as passed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "agreement_model.h"
#include "base/rng.h"
#include "base/threads.h"
#include "conv_cases.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/conv_bf16.h"
#include "layers/resnet.h"
#include "lowp_tile_cases.h"
#include "weights/model.h"
#include "weights/model_forward.h"

using namespace ds;

namespace {

using test::Case;
using test::dims;
using test::kCases;
using test::randn;
using test::rel_err;

uint32_t bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

bool bf16_available() { return test::kernels_run(has_bf16_kernels(), "AVX512-BF16"); }

}  // namespace

TEST_CASE("to_bf16 rounds to nearest even and keeps NaN and infinities") {
  CHECK(to_bf16(1.0f) == 0x3f80);
  CHECK(to_bf16(-3.0f) == 0xc040);
  CHECK(to_bf16(from_bits(0x3f808000)) == 0x3f80);  // halfway, even below: down
  CHECK(to_bf16(from_bits(0x3f818000)) == 0x3f82);  // halfway, odd below: up
  CHECK(to_bf16(from_bits(0x3f808001)) == 0x3f81);  // above halfway: up
  CHECK(to_bf16(from_bits(0x3f807fff)) == 0x3f80);  // below halfway: down
  CHECK(to_bf16(std::numeric_limits<float>::infinity()) == 0x7f80);
  CHECK(to_bf16(-std::numeric_limits<float>::infinity()) == 0xff80);
  CHECK(to_bf16(std::numeric_limits<float>::max()) == 0x7f80);  // rounds up to infinity
  CHECK(std::isnan(from_bf16(to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(std::isnan(from_bf16(to_bf16(from_bits(0x7f800001)))));  // a NaN whose top bits look like inf
  CHECK(to_bf16(from_bits(0x00010000)) == 0x0001);               // denormals round like any value
  Rng rng(1);
  for (int i = 0; i < 10000; ++i) {
    const float x = rng.normal() * 100.0f;
    const float r = from_bf16(to_bf16(x));
    CHECK(std::fabs(r - x) <= std::fabs(x) * 0x1.0p-8f);  // half a bf16 ulp
    CHECK((bits(r) & 0xffff) == 0);
  }
}

TEST_CASE("pack_conv_bf16 holds to_bf16(w * scale) in the tiles' order, zeros past C and OC") {
  Rng rng(2);
  const int64_t KH = 3, KW = 3, C = 5, OC = 70;
  auto w = randn(KH * KW * C * OC, rng), scale = randn(OC, rng);
  const ConvBf16Weights p = pack_conv_bf16(w.data(), scale.data(), KH, KW, C, OC);
  CHECK(p.Cp == 6);
  CHECK(p.NV == 4);
  CHECK(p.nb == 2);
  CHECK(p.kg == 9);
  CHECK((int64_t)p.packed.size() == p.nb * KH * p.kg * 64 * 2);
  for (int64_t kh = 0; kh < KH; ++kh)
    for (int64_t kw = 0; kw < KW; ++kw)
      for (int64_t c = 0; c < p.Cp; ++c)
        for (int64_t oc = 0; oc < p.nb * 64; ++oc) {
          const uint16_t want =
              c < C && oc < OC ? to_bf16(w[(size_t)(((kh * KW + kw) * C + c) * OC + oc)] * scale[(size_t)oc]) : 0;
          REQUIRE(p.at(kh, kw, c, oc) == want);
        }
}

TEST_CASE("the bf16 reference twin is the fp32 reference convolution of the rounded operands") {
  Rng rng(3);
  for (const Case& c : kCases) {
    const ConvDims d = dims(c);
    if (d.C * d.KH * d.KW * d.OC > 200000) continue;  // the direct loops are slow
    auto [x, w, b, res, n_out] = test::operands(d, rng);
    std::vector<float> scale((size_t)d.OC);
    for (int64_t oc = 0; oc < d.OC; ++oc) scale[(size_t)oc] = 0.5f + 0.1f * (float)(oc % 7);
    const ConvBf16Weights p = pack_conv_bf16(w.data(), scale.data(), d.KH, d.KW, d.C, d.OC);
    std::vector<float> xr(x.size()), wr(w.size());
    for (size_t i = 0; i < x.size(); ++i) xr[i] = from_bf16(to_bf16(x[i]));
    for (size_t i = 0; i < w.size(); ++i) wr[i] = from_bf16(to_bf16(w[i] * scale[i % (size_t)d.OC]));
    const ConvEpilogue ep = test::epilogue(c, b, res);
    std::vector<float> y1((size_t)n_out, 7.f), y2((size_t)n_out, -7.f);
    conv2d_forward_bf16_ref(y1.data(), x.data(), p, d, ep);
    conv2d_forward_ref(y2.data(), xr.data(), wr.data(), d, ep);
    INFO("C=" << c.C << " OC=" << c.OC << " k=" << c.k);
    CHECK(rel_err(y1, y2) < 1e-6);
    // Written over its residual (what inference runs without AVX512-BF16): the same bits.
    test::check_over_residual(ep, res, y1,
                              [&](float* y, const ConvEpilogue& e) { conv2d_forward_bf16_ref(y, x.data(), p, d, e); });
  }
}

TEST_CASE("the AVX512-BF16 convolution matches its reference twin") {
  if (!bf16_available()) return;
  // The rounding pass: bit for bit to_bf16, on halfway cases, denormals, infinities and NaN.
  {
    std::vector<float> v;
    Rng rng(4);
    for (int i = 0; i < 1000; ++i) v.push_back(rng.normal() * 1e3f);
    for (uint32_t u : {0x3f808000u, 0x3f818000u, 0x00018000u, 0x80008000u, 0x7f800000u, 0xff800000u, 0x7fc00000u,
                       0x7f800001u, 0x7f7fffffu, 0u, 0x80000000u})
      v.push_back(from_bits(u));
    std::vector<uint16_t> fast(v.size());
    conv_bf16_kernels_avx512bf16().round(fast.data(), v.data(), (int64_t)v.size());
    for (size_t i = 0; i < v.size(); ++i) REQUIRE(fast[i] == to_bf16(v[i]));
  }
  Rng rng(5);
  double worst = 0;
  for (const Case& c : kCases) {
    const ConvDims d = dims(c);
    auto [x, w, b, res, n_out] = test::operands(d, rng);
    const ConvBf16Weights p = pack_conv_bf16(w.data(), nullptr, d.KH, d.KW, d.C, d.OC);
    const ConvEpilogue ep = test::epilogue(c, b, res);
    std::vector<float> y1((size_t)n_out, 7.f), y2((size_t)n_out, -7.f);
    conv2d_forward_bf16(y1.data(), x.data(), p, d, ep);
    conv2d_forward_bf16_ref(y2.data(), x.data(), p, d, ep);
    test::check_over_residual(ep, res, y1,
                              [&](float* y, const ConvEpilogue& e) { conv2d_forward_bf16(y, x.data(), p, d, e); });
    const double e = rel_err(y1, y2);
    INFO("N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC << " k=" << c.k
              << " s=" << c.stride << " p=" << c.pad << " err " << e);
    // The same exact products, summed in fp32 (fast) or double (twin): fp32 summation error.
    CHECK(e < 2e-6 * std::sqrt((double)(d.KH * d.KW * d.C)));
    worst = std::max(worst, e);
  }
  std::printf("conv2d_forward_bf16 (avx512_bf16) vs ref: max relative error %.3g\n", worst);

  // Thread-count independence and the dispatch below avx512, bit for bit.
  const ConvDims d = dims(kCases[10]);
  auto x = randn(d.N * d.H * d.W * d.C, rng), w = randn(d.KH * d.KW * d.C * d.OC, rng);
  const ConvBf16Weights p = pack_conv_bf16(w.data(), nullptr, d.KH, d.KW, d.C, d.OC);
  test::check_threads_and_dispatch((size_t)(d.N * d.OH * d.OW * d.OC),
                                   [&](float* y) { conv2d_forward_bf16(y, x.data(), p, d); },
                                   [&](float* y) { conv2d_forward_bf16_ref(y, x.data(), p, d); }, has_bf16_kernels);
}

// The AMX-BF16 tile's logic on emulated tile registers: the same cases against the twin. The
// hardware instance is tests/test_amx.cpp's (run only where the CPU has AMX-BF16).
TEST_CASE("the AMX-BF16 convolution on emulated tiles matches its reference twin") {
  if (!bf16_available()) return;
  test::check_bf16_tiles(conv_bf16_kernels_amx_emulated(), "AMX-BF16 tiles, emulated");
}

// The max pool fused into the convolution (ConvEpilogue::max_pool) equals the two passes bit for
// bit, on the AVX512-BF16 tiles, the AMX tiles on emulated registers, and the twin.
TEST_CASE("the bf16 convolution with the max pool fused equals the convolution then the pool") {
  auto on = [](const ConvBf16Kernels* k) {
    return [k](float* out, const std::vector<float>& x, const std::vector<float>& w, const ConvDims& d,
               const ConvEpilogue& ep) {
      const ConvBf16Weights p = pack_conv_bf16(w.data(), nullptr, d.KH, d.KW, d.C, d.OC);
      if (k) conv2d_forward_bf16_on(*k, out, x.data(), p, d, ep);
      else conv2d_forward_bf16_ref(out, x.data(), p, d, ep);
    };
  };
  test::check_pool_fusion("bf16 reference twin", on(nullptr));
  if (!bf16_available()) return;
  test::check_pool_fusion("avx512_bf16", on(&conv_bf16_kernels_avx512bf16()));
  test::check_pool_fusion("AMX-BF16 tiles, emulated", on(&conv_bf16_kernels_amx_emulated()));
}

namespace {

using test::Agreement;

// ResNet-18 at bf16 against fp32 on 256 patches, K classes (tests/agreement_model.h).
Agreement resnet18_agreement(const int K) {
  auto [model, x] = test::agreement_fixture(K);
  const int B = (int)x.size(0);
  const Tensor p32 = predict_probabilities(model, x, Precision::fp32);
  const int64_t over0 = residuals_written_over();
  const Tensor p16 = predict_probabilities(model, x, Precision::bf16);
  // Every block's conv2 writes its output over the block's input or its downsample's output,
  // which die with the add: 8 per forward pass (its batches).
  const int64_t over = residuals_written_over() - over0;
  CHECK((over > 0 && over % 8 == 0));
  const Tensor p16b = predict_probabilities(model, x, Precision::bf16);  // packed weights reused
  for (int64_t i = 0; i < p16.numel(); ++i) REQUIRE(p16[i] == p16b[i]);
  const Agreement a = test::agreement(p32, p16, K);
  std::printf(
      "resnet18 bf16 vs fp32, %d classes, %d patches: argmax agreement %.2f%%, max |prob diff| %.4f, %d classes "
      "predicted\n",
      K, B, 100.0 * a.agree, a.max_diff, a.classes_hit);
  CHECK(a.classes_hit == K);  // the predictions vary, so agreement means something
  const double max_diff = a.max_diff;

  // Changing the weights invalidates the packed copy: conv1's negated changes every output.
  Tensor& w1 = model.net->params().params[0]->value;
  REQUIRE(w1.dim() == 4);
  for (int64_t i = 0; i < w1.numel(); ++i) w1[i] = -w1[i];
  const Tensor p32c = predict_probabilities(model, x, Precision::fp32);
  const Tensor p16c = predict_probabilities(model, x, Precision::bf16);
  double diff_c = 0;
  for (int64_t i = 0; i < p32c.numel(); ++i) diff_c = std::max(diff_c, (double)std::fabs(p32c[i] - p16c[i]));
  CHECK(diff_c <= 2 * std::max(max_diff, 0.01));
  return a;
}

}  // namespace

// The brief of issue 20 asked for >= 99.5% agreement and probabilities within 0.02 on trained
// (torchvision) weights. None are available offline, and an untrained ResNet amplifies rounding
// from layer to layer (its features come out about 2.5% off at bf16, while each convolution
// matches the exact bf16 emulation above to 1e-6): measured here, 2 classes agree on 99.2% of
// the patches and 10 classes on 96.5%, probabilities within 0.08 (on the Intel Xeon, model 207,
// whose fp32 kernels sum in another order and so fit the fixture's head differently: 98.8% and
// 96.5%, 3 and 9 of 256 patches). The limits below hold those figures with a little room; a
// torchvision-weights fixture should tighten them (BENCHMARKS.md).
TEST_CASE("ResNet-18 at bf16 agrees with fp32 on untrained weights, 2 and 10 classes") {
  if (!bf16_available()) return;
  const Agreement two = resnet18_agreement(2);
  CHECK(two.agree >= 0.98);
  CHECK(two.max_diff <= 0.1);
  const Agreement ten = resnet18_agreement(10);
  CHECK(ten.agree >= 0.95);
  CHECK(ten.max_diff <= 0.1);
}
