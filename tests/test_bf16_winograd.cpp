// bf16 Winograd F(2x2, 3x3) (engine/kernels/conv_winograd_bf16.h): the twin equals the direct
// convolution wherever every transformed value is exact in bf16 (so its matrices are right), the
// fast path on the AVX512-BF16 tiles and on the AMX-BF16 tiles (emulated registers) against the
// twin on odd shapes (tile edges, padding 0-2, odd channels, several blocks, parts of the output
// channels, the fused epilogue), thread-count independence, the error on ResNet-18's 3x3 layers
// against a float64 direct convolution next to direct bf16's (the figures conv_winograd_bf16.h
// quotes), and the per-layer choice. Whole-network agreement at bf16 is test_bf16's (auto runs
// this path there). On a CPU without AVX512-BF16 the fast cases print "not run: CPU lacks
// AVX512-BF16" and ctest reports the executable as skipped.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "base/rng.h"
#include "base/threads.h"
#include "conv_cases.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/conv_bf16.h"
#include "engine/kernels/conv_winograd.h"
#include "engine/kernels/conv_winograd_bf16.h"

using namespace ds;

namespace {

struct Case {
  int64_t N, C, H, W, OC, pad;
  bool epilogue;
};

// Odd outputs (partial tiles at the right and bottom), padding 0, 1 and 2, odd channel counts
// (V padded to even), NV = 1..4 and a partial last block, 512+ channels (spaced V rows), enough
// tiles for several blocks, and few tiles with many output channels (parts of the blocks).
const Case kCases[] = {
    {1, 3, 5, 7, 5, 1, true},     {2, 5, 9, 11, 7, 1, false},   {1, 17, 6, 6, 33, 0, true},
    {3, 13, 7, 7, 17, 1, true},   {1, 2, 3, 3, 2, 0, false},    {2, 4, 4, 5, 3, 0, true},
    {1, 16, 6, 6, 16, 2, false},  {2, 64, 14, 14, 64, 1, true}, {1, 70, 9, 13, 40, 1, false},
    {1, 520, 5, 6, 70, 1, true},  {4, 8, 40, 36, 24, 1, true},  {1, 40, 3, 4, 520, 1, true},
    {6, 32, 28, 28, 48, 1, true},
};

ConvDims dims(const Case& c) { return make_conv_dims(c.N, c.C, c.H, c.W, c.OC, 3, 3, 1, c.pad); }

// Per-channel scale the weights are packed with; with c.epilogue, bias, residual and ReLU too.
struct Operands {
  std::vector<float> x, w, scale, bias, res;
  ConvEpilogue ep;
  Operands(const Case& c, Rng& rng) {
    const ConvDims d = dims(c);
    x = test::randn(d.N * d.H * d.W * d.C, rng);
    w = test::randn(9 * d.C * d.OC, rng);
    scale.resize((size_t)d.OC);
    for (int64_t oc = 0; oc < d.OC; ++oc) scale[(size_t)oc] = 0.5f + 0.1f * (float)(oc % 7);
    if (!c.epilogue) return;
    bias = test::randn(d.OC, rng);
    res = test::randn(d.N * d.OH * d.OW * d.OC, rng);
    ep.bias = bias.data();
    ep.residual = res.data();
    ep.relu = true;
  }
};

bool bf16_available() { return test::kernels_run(has_bf16_kernels(), "AVX512-BF16"); }

size_t outputs(const ConvDims& d) { return (size_t)(d.N * d.OH * d.OW * d.OC); }

}  // namespace

TEST_CASE("the transforms' additions are B^T d B and A^T M A of the matrices as written") {
  // Each transform is linear: applied to the 16 unit inputs, it must give the matrices' columns.
  for (int k = 0; k < 16; ++k) {
    double e[16] = {}, v[16];
    e[k] = 1;
    winograd_bf16_input_transform(e, v);
    const int i = k / 4, j = k % 4;  // d = e_k: (B^T d B)[a][b] = BT[a][i] * BT[b][j]
    for (int a = 0; a < 4; ++a)
      for (int b = 0; b < 4; ++b) REQUIRE(v[a * 4 + b] == kWino2BT[a][i] * kWino2BT[b][j]);
    double y[4];
    winograd_bf16_output_transform(e, y);  // (A^T M A)[a][b] = AT[a][i] * AT[b][j]
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b) REQUIRE(y[a * 2 + b] == kWino2AT[a][i] * kWino2AT[b][j]);
  }
}

TEST_CASE("the bf16 Winograd twin and kernels equal the direct convolution where bf16 holds every value") {
  // Integer inputs in [-4, 4] and weights in [-4, 4]: V's sums of 4 inputs and U's quarters
  // (G holds halves) have at most 8 significant bits, so nothing rounds and the twin's double
  // sums must equal the direct convolution's exactly. A wrong entry in G fails this. Every
  // sum is a multiple of 1/4 below 2^17 (19 significant bits), so the kernels' fp32 sums are exact too: any
  // indexing or tail error shows at zero tolerance, on the AVX512-BF16 and the AMX tiles alike.
  Rng rng(21);
  for (const Case& c : kCases) {
    const ConvDims d = dims(c);
    if (d.C * d.OC > 40000) continue;  // the twin's loops are slow
    std::vector<float> x(d.N * d.H * d.W * d.C), w(9 * d.C * d.OC);
    for (float& v : x) v = (float)((int)(rng.uniform() * 9.0) - 4);
    for (float& v : w) v = (float)((int)(rng.uniform() * 9.0) - 4);
    const ConvWinogradBf16Weights p = pack_conv_winograd_bf16(w.data(), nullptr, d.C, d.OC);
    std::vector<float> y1(outputs(d), 7.f), y2(outputs(d), -7.f);
    conv2d_forward_winograd_bf16_ref(y1.data(), x.data(), p, d);
    conv2d_forward_ref(y2.data(), x.data(), w.data(), d);
    INFO("N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC << " pad=" << c.pad);
    CHECK(y1 == y2);
    {  // the twin written over its residual (what inference runs without AVX512-BF16): the same bits
      Rng rr(25);
      const std::vector<float> res = test::randn((int64_t)outputs(d), rr);
      ConvEpilogue ep;
      ep.residual = res.data();
      ep.relu = true;
      std::vector<float> y4(outputs(d));
      conv2d_forward_winograd_bf16_ref(y4.data(), x.data(), p, d, ep);
      test::check_over_residual(ep, res, y4, [&](float* y, const ConvEpilogue& e) {
        conv2d_forward_winograd_bf16_ref(y, x.data(), p, d, e);
      });
    }
    if (!has_bf16_kernels()) continue;  // said below, in the kernels' own case
    for (const ConvBf16Kernels* k : {&conv_bf16_kernels_avx512bf16(), &conv_bf16_kernels_amx_emulated()}) {
      std::vector<float> y3(outputs(d), 5.f);
      conv2d_forward_winograd_bf16_on(*k, y3.data(), x.data(), p, d);
      CHECK(y3 == y2);
    }
  }
}

TEST_CASE("pack_conv_winograd_bf16 holds bf16(G g G^T * scale) per position, zeros past C and OC") {
  Rng rng(22);
  const int64_t C = 5, OC = 70;
  auto w = test::randn(9 * C * OC, rng), scale = test::randn(OC, rng);
  const ConvWinogradBf16Weights p = pack_conv_winograd_bf16(w.data(), scale.data(), C, OC);
  CHECK(p.Cp == 6);
  CHECK(p.nb == 2);
  CHECK((int64_t)p.packed.size() == 16 * p.nb * (p.Cp / 2) * 64 * 2);
  // Position (1, 2) of channel pair (c, oc): G's row 1 is (1, 1, 1) / 2, row 2 (1, -1, 1) / 2.
  for (int64_t c = 0; c < p.Cp; ++c)
    for (int64_t oc = 0; oc < p.nb * 64; ++oc) {
      if (c >= C || oc >= OC) {
        for (int xi = 0; xi < 16; ++xi) REQUIRE(p.at(xi, c, oc) == 0);
        continue;
      }
      auto g = [&](int kh, int kw) { return (double)w[(size_t)(((kh * 3 + kw) * C + c) * OC + oc)]; };
      double u = 0;
      for (int kh = 0; kh < 3; ++kh) u += 0.5 * (g(kh, 0) - g(kh, 1) + g(kh, 2)) * 0.5;
      REQUIRE(p.at(1 * 4 + 2, c, oc) == to_bf16((float)(u * scale[(size_t)oc])));
      REQUIRE(p.at(0, c, oc) == to_bf16((float)(g(0, 0) * scale[(size_t)oc])));  // G's row 0 picks g[0][0]
    }
}

TEST_CASE("the bf16 Winograd convolution matches its twin on the AVX512-BF16 and AMX tiles") {
  if (!bf16_available()) return;
  const std::pair<const ConvBf16Kernels*, const char*> instances[] = {
      {&conv_bf16_kernels_avx512bf16(), "avx512_bf16"}, {&conv_bf16_kernels_amx_emulated(), "AMX-BF16, emulated"}};
  for (const auto& [k, name] : instances) {
    Rng rng(23);
    double worst = 0;
    for (const Case& c : kCases) {
      const ConvDims d = dims(c);
      if (d.C * d.OC > 40000) continue;
      Operands o(c, rng);
      const ConvWinogradBf16Weights p = pack_conv_winograd_bf16(o.w.data(), o.scale.data(), d.C, d.OC);
      std::vector<float> y1(outputs(d), 7.f), y2(outputs(d), -7.f), y3(outputs(d), 3.f);
      set_num_threads(2);
      conv2d_forward_winograd_bf16_on(*k, y1.data(), o.x.data(), p, d, o.ep);
      set_num_threads(1);
      conv2d_forward_winograd_bf16_on(*k, y3.data(), o.x.data(), p, d, o.ep);
      set_num_threads(2);
      conv2d_forward_winograd_bf16_ref(y2.data(), o.x.data(), p, d, o.ep);
      test::check_over_residual(o.ep, o.res, y1, [&](float* y, const ConvEpilogue& e) {
        conv2d_forward_winograd_bf16_on(*k, y, o.x.data(), p, d, e);
      });
      test::check_over_residual(o.ep, o.res, y2, [&](float* y, const ConvEpilogue& e) {
        conv2d_forward_winograd_bf16_ref(y, o.x.data(), p, d, e);
      });
      const double e = test::rel_err(y1, y2);
      INFO(name << " N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC << " pad=" << c.pad
                << " err " << e);
      // The same bf16 V and U: the sums differ only by fp32 summation (and the output transform's).
      CHECK(e < 1e-6 * std::sqrt((double)d.C));  // measured at most 4e-7
      CHECK(y1 == y3);                           // the thread count changes nothing
      worst = std::max(worst, e);
    }
    std::printf("conv2d_forward_winograd_bf16 (%s) vs twin: max relative error %.3g\n", name, worst);
  }
  // The dispatcher picks the CPU's tiles: equal to the AMX or AVX512-BF16 instance bit for bit.
  const Case c = kCases[7];
  const ConvDims d = dims(c);
  Rng rng(24);
  Operands o(c, rng);
  const ConvWinogradBf16Weights p = pack_conv_winograd_bf16(o.w.data(), nullptr, d.C, d.OC);
  std::vector<float> y1(outputs(d)), y2(outputs(d));
  conv2d_forward_winograd_bf16(y1.data(), o.x.data(), p, d, o.ep);
  conv2d_forward_winograd_bf16_on(has_amx_bf16_kernels() ? conv_bf16_kernels_amx() : conv_bf16_kernels_avx512bf16(),
                                  y2.data(), o.x.data(), p, d, o.ep);
  CHECK(y1 == y2);
}

// ResNet-18's 3x3 stride-1 layers at He-scaled weights and ReLU'd inputs (batch 1), against a
// float64 direct convolution of the unrounded operands: the rms error relative to the output's rms,
// bf16 Winograd next to direct bf16. conv_winograd_bf16.h and BENCHMARKS.md quote these figures.
TEST_CASE("bf16 Winograd's error on ResNet-18's 3x3 layers stays near direct bf16's") {
  struct Layer {
    const char* name;
    int64_t C, H;
  };
  const Layer layers[] = {{"layer1", 64, 56}, {"layer2", 128, 28}, {"layer3", 256, 14}, {"layer4", 512, 7}};
  Rng rng(25);
  for (const Layer& l : layers) {
    const ConvDims d = make_conv_dims(1, l.C, l.H, l.H, l.C, 3, 3, 1, 1);
    std::vector<float> x(d.H * d.W * d.C), w(9 * d.C * d.OC);
    for (float& v : x) v = std::max(0.0f, rng.normal());
    const float he = (float)std::sqrt(2.0 / (9.0 * (double)d.C));
    for (float& v : w) v = rng.normal() * he;
    std::vector<float> exact(outputs(d)), wino(outputs(d)), direct(outputs(d));
    conv2d_forward_ref(exact.data(), x.data(), w.data(), d);  // float64 sums of the fp32 operands
    conv2d_forward_winograd_bf16_ref(wino.data(), x.data(), pack_conv_winograd_bf16(w.data(), nullptr, d.C, d.OC), d);
    conv2d_forward_bf16_ref(direct.data(), x.data(), pack_conv_bf16(w.data(), nullptr, 3, 3, d.C, d.OC), d);
    auto rms_rel = [&](const std::vector<float>& y) {
      double e = 0, s = 0;
      for (size_t i = 0; i < y.size(); ++i) {
        e += ((double)y[i] - exact[i]) * ((double)y[i] - exact[i]);
        s += (double)exact[i] * exact[i];
      }
      return std::sqrt(e / s);
    };
    const double ew = rms_rel(wino), ed = rms_rel(direct);
    std::printf("%s: rms error relative to the output, bf16 Winograd %.3f%%, direct bf16 %.3f%%\n", l.name, 100 * ew,
                100 * ed);
    CHECK(ew < 0.006);     // measured 0.3-0.4%
    CHECK(ew < 2.5 * ed);  // measured ~1.5x
  }
}

TEST_CASE("use_winograd_bf16 follows --conv-algo and never runs in reference mode") {
  const ConvDims layer2 = make_conv_dims(16, 128, 28, 28, 128, 3, 3, 1, 1);
  const ConvDims strided = make_conv_dims(16, 128, 28, 28, 128, 3, 3, 2, 1);
  const ConvDims narrow = make_conv_dims(16, 16, 28, 28, 16, 3, 3, 1, 1);
  const WinogradMode before = winograd_mode();
  force_winograd_mode(WinogradMode::off);
  CHECK(!use_winograd_bf16(layer2));
  force_winograd_mode(WinogradMode::on);
  CHECK(use_winograd_bf16(layer2) == has_bf16_kernels());
  CHECK(use_winograd_bf16(narrow) == has_bf16_kernels());
  CHECK(!use_winograd_bf16(strided));
  force_winograd_mode(WinogradMode::aut);
  CHECK(use_winograd_bf16(layer2) == has_bf16_kernels());
  CHECK(!use_winograd_bf16(narrow));  // the rule: narrow layers stay direct
  const Isa isa = cpu_isa();
  force_isa(Isa::ref);
  CHECK(!use_winograd_bf16(layer2));
  force_isa(isa);
  force_winograd_mode(before);
}
