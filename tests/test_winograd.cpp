// Winograd F(4x4, 3x3) inference convolution (engine/kernels/conv_winograd.h): its plain twin
// against the direct convolution's (float64 sums: the transform matrices are right), the fast
// path against the twin on odd shapes on every ISA path the CPU has (tile edges, padding 0-2,
// sizes and channels not multiples of 4 or 16, several blocks, the fused epilogue), thread-count
// independence, the error on ResNet-18's 3x3 layers against a float64 direct convolution (the
// figure conv_winograd.h and BENCHMARKS.md quote), the per-layer choice, and a whole model's
// probabilities with and without Winograd (and its cached filters refreshed when weights change). PyTorch parity of
// whole networks run by Winograd is in test_resnet_parity.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include "base/rng.h"
#include "base/threads.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/conv_winograd.h"
#include "isa_paths.h"
#include "test_util.h"
#include "weights/model.h"
#include "weights/model_forward.h"

using namespace ds;

namespace {

// n draws of a normal distribution.
std::vector<float> randn(int64_t n, Rng& rng) {
  std::vector<float> v((size_t)n);
  std::generate(v.begin(), v.end(), [&] { return rng.normal(); });
  return v;
}

// max |a - b| / max |b| (test_util.h's, for vectors).
double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  return test::rel_err(a.data(), b.data(), (int64_t)b.size());
}

struct Case {
  int64_t N, C, H, W, OC, pad;
  bool epilogue;
};

// Odd shapes: outputs not a multiple of 4 (partial tiles at the right and bottom), padding 0, 1
// and 2, channels and output channels not multiples of the vector width, outputs of 1x1 and
// 2x3, ResNet-like whole vectors, 256+ channels (spaced V and M rows), enough tiles for
// several blocks, and fewer tiles than a block with many output channels (on 2 threads the
// outputs are cut into parts of the output channels: 260 -> 300 and 40 -> 520).
const Case kCases[] = {
    {1, 3, 5, 7, 5, 1, true},     {2, 5, 9, 11, 7, 1, false},   {1, 17, 6, 6, 33, 0, true},
    {3, 13, 7, 7, 17, 1, true},   {1, 2, 3, 3, 2, 0, false},    {2, 4, 4, 5, 3, 0, true},
    {1, 16, 6, 6, 16, 2, false},  {2, 64, 14, 14, 64, 1, true}, {1, 70, 9, 13, 40, 1, false},
    {1, 260, 5, 6, 300, 1, true}, {4, 8, 40, 36, 24, 1, true},  {1, 40, 11, 10, 520, 1, true},
};

// Fills ep (bias, residual, ReLU) and the scale the weights are packed with.
struct Epilogue {
  std::vector<float> scale, bias, res;
  ConvEpilogue ep;
  Epilogue(const ConvDims& d, bool on, Rng& rng) {
    scale.resize(d.OC);
    for (int64_t oc = 0; oc < d.OC; ++oc) scale[oc] = 0.5f + 0.1f * (float)(oc % 7);
    if (!on) return;
    bias = randn(d.OC, rng);
    res = randn(d.N * d.OH * d.OW * d.OC, rng);
    ep.bias = bias.data();
    ep.residual = res.data();
    ep.relu = true;
  }
};

}  // namespace

TEST_CASE("the Winograd twin equals the direct convolution (transform matrices)") {
  Rng rng(11);
  for (const Case& c : kCases) {
    const ConvDims d = make_conv_dims(c.N, c.C, c.H, c.W, c.OC, 3, 3, 1, c.pad);
    auto x = randn(d.N * d.H * d.W * d.C, rng), w = randn(9 * d.C * d.OC, rng);
    Epilogue e(d, c.epilogue, rng);
    const ConvWinogradWeights wp = pack_conv_winograd(w.data(), e.scale.data(), d.C, d.OC);
    std::vector<float> y1(d.N * d.OH * d.OW * d.OC, 7.f), y2(y1.size(), -7.f);
    conv2d_forward_winograd_ref(y1.data(), x.data(), wp, d, e.ep);
    ConvEpilogue ed = e.ep;
    ed.weight_scale = e.scale.data();
    conv2d_forward_ref(y2.data(), x.data(), w.data(), d, ed);
    INFO("N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC << " pad=" << c.pad);
    // Both sum in double; they differ by U's rounding to fp32 and the epilogue's.
    CHECK(rel_err(y1, y2) < 2e-6);
  }
}

TEST_CASE("the Winograd convolution matches its twin on every ISA path and thread count") {
  const std::vector<Isa> isas = test::isa_paths();
  const Isa before = cpu_isa();
  for (Isa isa : isas) {
    force_isa(isa);
    Rng rng(5);
    double worst = 0;
    for (const Case& c : kCases) {
      const ConvDims d = make_conv_dims(c.N, c.C, c.H, c.W, c.OC, 3, 3, 1, c.pad);
      auto x = randn(d.N * d.H * d.W * d.C, rng), w = randn(9 * d.C * d.OC, rng);
      Epilogue e(d, c.epilogue, rng);
      const ConvWinogradWeights wp = pack_conv_winograd(w.data(), e.scale.data(), d.C, d.OC);
      const size_t n_out = d.N * d.OH * d.OW * d.OC;
      std::vector<float> y1(n_out, 7.f), y2(n_out, -7.f), y3(n_out, 3.f);
      set_num_threads(2);
      conv2d_forward_winograd(y1.data(), x.data(), wp, d, e.ep);
      set_num_threads(1);
      conv2d_forward_winograd(y3.data(), x.data(), wp, d, e.ep);
      set_num_threads(2);
      conv2d_forward_winograd_ref(y2.data(), x.data(), wp, d, e.ep);
      const double err = rel_err(y1, y2);
      INFO(isa_name(isa) << " N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC
                         << " pad=" << c.pad << " err " << err);
      CHECK(err < 2e-5);
      CHECK(y1 == y3);  // bit-identical on 1 and 2 threads
      worst = std::max(worst, err);
      if (c.epilogue) {  // the output written over its residual (ConvEpilogue::residual): the same values
        std::vector<float> y4 = e.res;
        ConvEpilogue in_place = e.ep;
        in_place.residual = y4.data();
        conv2d_forward_winograd(y4.data(), x.data(), wp, d, in_place);
        CHECK(rel_err(y4, y2) < 2e-5);
      }
    }
    std::printf("winograd %s vs its twin: max relative error %.3g\n", isa_name(isa), worst);
  }
  force_isa(before);
}

// The filter transform runs per ISA (WinogradKernels::filter) without FMA contraction: U, and
// the part a training work item transforms on its own (filter_rows), are the same bits on every
// path, with and without a scale, output channels not a multiple of 16 included.
TEST_CASE("the filter transform gives the same U on every ISA path, whole or a row of positions at a time") {
  const std::vector<Isa> isas = test::isa_paths();
  const Isa before = cpu_isa();
  Rng rng(29);
  for (const auto& [C, OC] : {std::pair<int64_t, int64_t>{3, 5}, {17, 33}, {64, 64}, {40, 520}}) {
    const auto w = randn(9 * C * OC, rng), scale = randn(OC, rng);
    force_isa(Isa::scalar);
    const ConvWinogradWeights base = pack_conv_winograd(w.data(), scale.data(), C, OC);
    const ConvWinogradWeights base_unscaled = pack_conv_winograd(w.data(), nullptr, C, OC);
    for (Isa isa : isas) {
      force_isa(isa);
      INFO(isa_name(isa) << " C=" << C << " OC=" << OC);
      const ConvWinogradWeights u = pack_conv_winograd(w.data(), scale.data(), C, OC);
      CHECK(test::rel_err(u.U, base.U) == 0.0);
      // Row a of positions, output channels [oc0, oc1), as a training work item transforms it.
      const int64_t oc0 = OC > 16 ? 16 : 0, oc1 = OC, n = oc1 - oc0;
      std::vector<float> rows(6 * C * n);
      bool same_rows = true;
      for (int a = 0; a < 6; ++a) {
        winograd_kernels(isa).filter_rows(rows.data(), n, C * n, w.data(), C, OC, a, oc0, oc1);
        for (int b = 0; b < 6; ++b)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t j = 0; j < n; ++j)
              same_rows &= rows[(b * C + c) * n + j] == base_unscaled.U[((a * 6 + b) * C + c) * base.ldo + oc0 + j];
      }
      CHECK(same_rows);
    }
  }
  force_isa(before);
}

TEST_CASE("Winograd error on ResNet-18's 3x3 layers against a float64 direct convolution") {
  // Batch 1, 224-px ResNet-18: each stride-1 3x3 shape; He-initialised weights, inputs >= 0
  // as after a ReLU. The bound: 3e-5 of max |output|, about 3x the largest seen (the direct fp32
  // path's own error is printed beside it).
  struct L {
    const char* name;
    int64_t C, H;
  };
  const L layers[] = {{"layer1", 64, 56}, {"layer2", 128, 28}, {"layer3", 256, 14}, {"layer4", 512, 7}};
  Rng rng(21);
  for (const L& l : layers) {
    const ConvDims d = make_conv_dims(1, l.C, l.H, l.H, l.C, 3, 3, 1, 1);
    std::vector<float> x = randn(d.H * d.W * d.C, rng), w = randn(9 * d.C * d.OC, rng);
    for (auto& v : x) v = std::fabs(v);
    const float he = (float)std::sqrt(2.0 / (9.0 * d.C));
    for (auto& v : w) v *= he;
    const ConvWinogradWeights wp = pack_conv_winograd(w.data(), nullptr, d.C, d.OC);
    const size_t n_out = d.OH * d.OW * d.OC;
    std::vector<float> yw(n_out), yd(n_out), y64(n_out);
    conv2d_forward_winograd(yw.data(), x.data(), wp, d);
    conv2d_forward(yd.data(), x.data(), w.data(), d);
    conv2d_forward_ref(y64.data(), x.data(), w.data(), d);  // double sums, rounded once
    double max_abs = 0, max_out = 0, max_rel = 0;
    for (size_t i = 0; i < n_out; ++i) max_out = std::max(max_out, std::fabs((double)y64[i]));
    for (size_t i = 0; i < n_out; ++i) {
      const double e = std::fabs((double)yw[i] - y64[i]);
      max_abs = std::max(max_abs, e);
      if (std::fabs(y64[i]) > 0.1 * max_out) max_rel = std::max(max_rel, e / std::fabs(y64[i]));
    }
    std::printf(
        "%s (C=%lld, %lldx%lld, %s): winograd max|err| %.3g = %.3g of max|out| (%.3g); max elementwise rel err "
        "(|out| > max|out| / 10) %.3g; direct fp32 %.3g of max|out|\n",
        l.name, (long long)d.C, (long long)d.H, (long long)d.W, isa_name(cpu_isa()), max_abs, max_abs / max_out,
        max_out, max_rel, rel_err(yd, y64));
    INFO(l.name);
    CHECK(max_abs / max_out < 3e-5);
  }
}

TEST_CASE("the per-layer choice: applies to 3x3 stride 1 only, modes, never in reference mode") {
  const ConvDims l1 = make_conv_dims(16, 64, 56, 56, 64, 3, 3, 1, 1);
  CHECK(winograd_applies(l1));
  CHECK_FALSE(winograd_applies(make_conv_dims(16, 64, 56, 56, 128, 3, 3, 2, 1)));
  CHECK_FALSE(winograd_applies(make_conv_dims(16, 64, 56, 56, 128, 1, 1, 1, 0)));
  CHECK_FALSE(winograd_applies(make_conv_dims(1, 3, 224, 224, 64, 7, 7, 2, 3)));
  const Isa before = cpu_isa();
  force_winograd_mode(WinogradMode::off);
  CHECK_FALSE(use_winograd(l1));
  force_winograd_mode(WinogradMode::on);
  CHECK(use_winograd(l1));
  CHECK(use_winograd(make_conv_dims(1, 3, 5, 5, 2, 3, 3, 1, 1)));  // on: every one that applies
  force_winograd_mode(WinogradMode::aut);
  CHECK(use_winograd(l1) == winograd_pays(l1));
  force_isa(Isa::ref);
  force_winograd_mode(WinogradMode::on);
  CHECK_FALSE(use_winograd(l1));  // reference mode keeps the direct convolution
  force_isa(before);
  force_winograd_mode(WinogradMode::aut);
}

TEST_CASE("a model's Winograd forward matches its direct one, and the transformed filters follow the weights") {
  // ResNet-18, 3 classes, 16 random 64-px patches, every 3x3 stride-1 convolution by Winograd
  // (mode on) against none (off), through predict_probabilities as predict runs it.
  Model model = make_model(Arch::resnet18, {"a", "b", "c"}, 7, 64);
  Rng rng(9);
  Tensor x = Tensor::empty(Shape{16, 3, 64, 64});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = rng.normal();
  auto probs = [&](WinogradMode m) {
    force_winograd_mode(m);
    return predict_probabilities(model, x);
  };
  const auto max_diff = [](const Tensor& a, const Tensor& b) {
    double m = 0;
    for (int64_t i = 0; i < b.numel(); ++i) m = std::max(m, (double)std::fabs(a[i] - b[i]));
    return m;
  };
  const Tensor direct = probs(WinogradMode::off), wino = probs(WinogradMode::on), again = probs(WinogradMode::on);
  const double d1 = max_diff(wino, direct);
  std::printf("resnet18 64 px: max |prob diff| winograd vs direct %.3g\n", d1);
  CHECK(d1 <= 1e-4);
  CHECK(test::rel_err(again.data(), wino.data(), wino.numel()) == 0);  // cached filters reused
  // New weights in a 3x3 stride-1 convolution: the cached transform is refreshed.
  Param* w = nullptr;
  for (Param* p : model.net->params().params)
    if (p->name == "layer1.0.conv1.weight") w = p;
  REQUIRE(w);
  for (int64_t i = 0; i < w->value.numel(); ++i) w->value[i] = -w->value[i];
  const Tensor direct2 = probs(WinogradMode::off), wino2 = probs(WinogradMode::on);
  CHECK(max_diff(wino2, direct2) <= 1e-4);
  CHECK(max_diff(wino2, wino) > 1e-3);  // the change reached the Winograd path
  force_winograd_mode(WinogradMode::aut);
}
