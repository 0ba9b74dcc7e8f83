// The per-channel sums the fp32 forward convolutions take in their epilogue for training's
// BatchNorm (ConvEpilogue::channel_sums, engine/kernels/tile_sums.h): against the sums of the
// outputs in double on every path (rows tiles, 1x1 GEMMs, Winograd, the twins) and ISA, with a
// mean far from zero, independent of the thread count and of the pixel grouping, and BatchNorm
// fed with them against its own two passes.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <vector>

#include "base/rng.h"
#include "base/threads.h"
#include "conv_cases.h"
#include "engine/cpu_features.h"
#include "engine/kernels/batchnorm.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/conv_blocking.h"
#include "engine/kernels/conv_winograd.h"
#include "engine/kernels/tile_sums.h"
#include "isa_paths.h"

using namespace ds;
using ds::test::randn;

namespace {

struct SumsCase {
  int64_t N, C, H, W, OC, k, stride, pad;
  float offset;  // added to every output by the bias: the mean, against a spread of order 1-10
};
const SumsCase kSumsCases[] = {
    {2, 3, 31, 30, 64, 7, 2, 3, 0.f},     // conv1's shape: taps packed, whole vectors
    {1, 3, 17, 15, 5, 7, 2, 3, 0.5f},     // partial vector, last tile short
    {2, 64, 14, 14, 64, 3, 1, 1, 0.f},    // a ResNet layer (Winograd's too)
    {1, 70, 9, 13, 40, 3, 1, 1, 1000.f},  // channels not a multiple of 16, mean 100x the spread
    {2, 33, 11, 11, 70, 3, 2, 1, -3.f},   // stride 2, odd sizes
    {3, 48, 7, 7, 96, 1, 2, 0, 0.f},      // downsample: 1x1 GEMM, strided
    {2, 40, 10, 9, 20, 1, 1, 0, 200.f},   // 1x1, channels not a multiple of 16
    {1, 16, 6, 6, 16, 3, 1, 2, 0.f},      // padding past "same": 8 x 8 output
    {2, 20, 7, 5, 24, 3, 1, 1, 50.f},     // Winograd edge tiles (7 x 5)
    {1, 200, 9, 9, 33, 3, 1, 1, 0.f},     // chunked reduction (partial sums in the output)
    {2, 16, 9, 10, 20, 3, 1, 1, 1e5f},    // mean ~8000x the spread: float tile sums would round into the variance
};

// Mean and biased variance per channel from sums [2 * C] over P pixels, as BatchNorm takes them.
void moments(const double* sums, int64_t P, int64_t C, std::vector<double>& mean, std::vector<double>& var) {
  mean.assign((size_t)C, 0.0), var.assign((size_t)C, 0.0);
  std::vector<double> sq((size_t)C);
  batch_moments_from_sums(mean.data(), sq.data(), sums, P, C, nullptr);
  for (int64_t c = 0; c < C; ++c) var[(size_t)c] = sq[(size_t)c] / (double)P;
}

// The worst relative differences of mean (against the mean's scale: mean + spread) and variance
// between the kernel's sums and the two-pass statistics of y in double.
struct SumErrors {
  double mean = 0, var = 0;
};
SumErrors sum_errors(const std::vector<double>& sums, const std::vector<float>& y, int64_t P, int64_t C) {
  std::vector<double> m, v;
  moments(sums.data(), P, C, m, v);
  SumErrors e;
  for (int64_t c = 0; c < C; ++c) {
    double mean = 0, var = 0;
    for (int64_t p = 0; p < P; ++p) mean += y[(size_t)(p * C + c)];
    mean /= (double)P;
    for (int64_t p = 0; p < P; ++p) var += (y[(size_t)(p * C + c)] - mean) * (y[(size_t)(p * C + c)] - mean);
    var /= (double)P;
    e.mean = std::max(e.mean, std::fabs(m[(size_t)c] - mean) / (std::fabs(mean) + std::sqrt(var) + 1e-30));
    e.var = std::max(e.var, std::fabs(v[(size_t)c] - var) / (var + 1e-30));
  }
  return e;
}

struct Operands {
  ConvDims d;
  std::vector<float> x, w, bias;
  ConvEpilogue ep;
  Operands(const SumsCase& c, Rng& rng) {
    d = make_conv_dims(c.N, c.C, c.H, c.W, c.OC, c.k, c.k, c.stride, c.pad);
    x = randn(d.N * d.H * d.W * d.C, rng);
    w = randn(d.KH * d.KW * d.C * d.OC, rng);
    bias.assign((size_t)d.OC, c.offset);
    for (int64_t oc = 0; oc < d.OC; ++oc) bias[(size_t)oc] += 0.01f * (float)oc;
    ep.bias = bias.data();
  }
  int64_t P() const { return d.N * d.OH * d.OW; }
};

// y and its channel sums by the direct convolution (winograd: by Winograd).
void run(const Operands& o, bool winograd, std::vector<float>& y, std::vector<double>& sums) {
  y.assign((size_t)(o.P() * o.d.OC), NAN);
  sums.assign((size_t)(2 * o.d.OC), NAN);
  ConvEpilogue ep = o.ep;
  ep.channel_sums = sums.data();
  if (winograd) {
    const ConvWinogradWeights wp = pack_conv_winograd(o.w.data(), nullptr, o.d.C, o.d.OC);
    conv2d_forward_winograd(y.data(), o.x.data(), wp, o.d, ep);
  } else {
    conv2d_forward(y.data(), o.x.data(), o.w.data(), o.d, ep);
  }
}

}  // namespace

TEST_CASE("convolutions' channel sums match their outputs' on every path, ISA and thread count") {
  const std::vector<Isa> isas = test::isa_paths(true);
  const Isa before = cpu_isa();
  for (Isa isa : isas) {
    force_isa(isa);
    Rng rng(11);
    SumErrors worst;
    for (const SumsCase& c : kSumsCases) {
      const Operands o(c, rng);
      for (bool winograd : {false, true}) {
        if (winograd && !winograd_applies(o.d)) continue;
        std::vector<float> y1, y2;
        std::vector<double> s1, s2;
        set_num_threads(2);
        run(o, winograd, y1, s1);
        set_num_threads(1);
        run(o, winograd, y2, s2);
        set_num_threads(2);
        const SumErrors e = sum_errors(s1, y1, o.P(), o.d.OC);
        INFO(isa_name(isa) << (winograd ? " winograd" : " direct") << " N=" << c.N << " C=" << c.C << " H=" << c.H
                           << " W=" << c.W << " OC=" << c.OC << " k=" << c.k << " s=" << c.stride
                           << " offset=" << c.offset << " mean err " << e.mean << " var err " << e.var);
        CHECK(y1 == y2);
        CHECK(s1 == s2);  // bit-identical on 1 and 2 threads
        // Sums in double per tile, added in double: the variance loses double's digits to
        // cancellation only (Q - S^2 / n; the mean 8000x the spread: 3e-7 measured).
        CHECK(e.mean < 1e-12);
        CHECK(e.var < 2e-6);
        if (isa == Isa::ref) {  // the twins sum the outputs exactly as channel_sums_exact does
          std::vector<double> exact((size_t)(2 * o.d.OC));
          channel_sums_exact(exact.data(), y1.data(), o.P(), o.d.OC);
          CHECK(s1 == exact);
        }
        worst.mean = std::max(worst.mean, e.mean);
        worst.var = std::max(worst.var, e.var);
      }
    }
    std::printf("channel sums %s: max relative error of the mean %.3g, of the variance %.3g\n", isa_name(isa),
                worst.mean, worst.var);
  }
  force_isa(before);
}

TEST_CASE("convolutions' channel sums do not depend on the pixel grouping") {
  // group_bytes and super_weight_bytes only reorder independent tiles (conv_blocking.h): the
  // outputs are bit-identical, and so must the sums be, tile by tile. chunk_k stays as derived.
  Rng rng(12);
  for (const SumsCase& c : kSumsCases) {
    const Operands o(c, rng);
    std::vector<float> y1, y2;
    std::vector<double> s1, s2;
    run(o, false, y1, s1);
    ConvBlocking b = conv_blocking(o.d, ConvPass::forward);
    b.group_bytes = 1;  // one tile per work item
    b.super_weight_bytes = 1;
    set_conv_blocking_override(&b);
    run(o, false, y2, s2);
    set_conv_blocking_override(nullptr);
    INFO("N=" << c.N << " C=" << c.C << " OC=" << c.OC << " k=" << c.k << " s=" << c.stride);
    CHECK(y1 == y2);
    CHECK(s1 == s2);
  }
}

TEST_CASE("batchnorm from a convolution's channel sums matches its own two passes") {
  Rng rng(13);
  const SumsCase c{2, 24, 9, 10, 40, 3, 1, 1, 30.f};
  const Operands o(c, rng);
  std::vector<float> y;
  std::vector<double> sums;
  run(o, false, y, sums);
  const int64_t P = o.P(), C = o.d.OC;
  auto gamma = randn(C, rng), beta = randn(C, rng), res = randn(P * C, rng);
  BnFuse fuse;
  fuse.residual = res.data();
  fuse.relu = true;
  for (Isa isa : {Isa::ref, cpu_isa()}) {
    const Isa before = cpu_isa();
    force_isa(isa);
    std::vector<float> out[2], mean[2], invstd[2], rm[2], rv[2];
    for (int k = 0; k < 2; ++k) {
      out[k].assign((size_t)(P * C), NAN), mean[k].assign((size_t)C, NAN), invstd[k].assign((size_t)C, NAN);
      rm[k].assign((size_t)C, 0.5f), rv[k].assign((size_t)C, 2.f);
      batchnorm_forward_train(out[k].data(), mean[k].data(), invstd[k].data(), rm[k].data(), rv[k].data(), y.data(),
                              gamma.data(), beta.data(), P, C, 0.1f, 1e-5f, fuse, nullptr, k ? sums.data() : nullptr);
    }
    force_isa(before);
    INFO(isa_name(isa));
    CHECK(ds::test::rel_err(out[1], out[0]) < 1e-5);
    CHECK(ds::test::rel_err(mean[1], mean[0]) < 1e-6);
    CHECK(ds::test::rel_err(invstd[1], invstd[0]) < 1e-5);
    CHECK(ds::test::rel_err(rm[1], rm[0]) < 1e-6);
    CHECK(ds::test::rel_err(rv[1], rv[0]) < 1e-5);
  }
}
