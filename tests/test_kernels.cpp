// Fast kernels against their reference twins on awkward shapes: channels-last convolution
// forward (with its fused epilogue) / backward-data / backward-weights on every ISA path (odd
// channels and sizes, stride 2, padding, 1x1 and 7x7, batch 1), linear on every ISA path,
// thread-count independence, layout transposes, max pooling (ties and NaN), softmax
// cross-entropy and batchnorm with its fused residual and ReLU (against double-precision
// formulas).
#include <omp.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/int_math.h"
#include "base/rng.h"
#include "base/threads.h"
#include "conv_cases.h"
#include "engine/cpu_caches.h"
#include "engine/cpu_features.h"
#include "engine/kernels/batchnorm.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/conv_1x1.h"
#include "engine/kernels/layout.h"
#include "engine/kernels/linear.h"
#include "engine/kernels/pooling.h"
#include "engine/kernels/softmax_xent.h"
#include "engine/kernels/threading.h"
#include "engine/kernels/tile_sums.h"
#include "engine/kernels/work_runs.h"
#include "isa_paths.h"

using namespace ds;

namespace {

using test::randn;
using test::rel_err;

}  // namespace

TEST_CASE("linear, conv and batchnorm results do not depend on the thread count") {
  Rng rng(8);
  const int64_t LN = 150, LIN = 700, LOUT = 333;
  auto lx = randn(LN * LIN, rng), lw = randn(LOUT * LIN, rng), ldy = randn(LN * LOUT, rng);
  const ConvDims d = make_conv_dims(4, 9, 20, 20, 40, 3, 3, 1, 1);
  const ConvDims d2 = make_conv_dims(3, 24, 15, 15, 20, 3, 3, 2, 1);
  const ConvDims d3 = make_conv_dims(2, 200, 9, 9, 200, 3, 3, 1, 1);  // chunked schedule
  const ConvDims d4 = make_conv_dims(3, 40, 13, 11, 72, 1, 1, 2, 0);  // 1x1 stride 2 (conv_1x1.h)
  const ConvDims d5 = make_conv_dims(2, 700, 6, 7, 40, 1, 1, 1, 0);   // 1x1, reduction in chunks
  const ConvDims d6 = make_conv_dims(3, 40, 13, 11, 64, 1, 1, 2, 0);  // 1x1 stride 2, gradient in place
  auto x = randn(d.N * d.C * d.H * d.W, rng), w = randn(d.OC * d.C * 9, rng);
  auto dy = randn(d.N * d.OC * d.OH * d.OW, rng);
  auto x2 = randn(d2.N * d2.C * d2.H * d2.W, rng), w2 = randn(d2.OC * d2.C * 9, rng);
  auto dy2 = randn(d2.N * d2.OC * d2.OH * d2.OW, rng);
  auto x3 = randn(d3.N * d3.C * d3.H * d3.W, rng), w3 = randn(d3.OC * d3.C * 9, rng);
  auto dy3 = randn(d3.N * d3.OC * d3.OH * d3.OW, rng);
  struct Out1x1 {
    std::vector<float> y, dx, dw;
  };
  struct Ops1x1 {
    ConvDims d;
    std::vector<float> x, w, dy;
  };
  const Ops1x1 c4{d4, randn(d4.N * d4.H * d4.W * d4.C, rng), randn(d4.OC * d4.C, rng),
                  randn(d4.N * d4.OH * d4.OW * d4.OC, rng)};
  const Ops1x1 c5{d5, randn(d5.N * d5.H * d5.W * d5.C, rng), randn(d5.OC * d5.C, rng),
                  randn(d5.N * d5.OH * d5.OW * d5.OC, rng)};
  const Ops1x1 c6{d6, randn(d6.N * d6.H * d6.W * d6.C, rng), randn(d6.OC * d6.C, rng),
                  randn(d6.N * d6.OH * d6.OW * d6.OC, rng)};
  // Forward, backward data (set) and backward weights of a 1x1 convolution.
  auto run_1x1 = [](const Ops1x1& c) {
    Out1x1 o{std::vector<float>(c.dy.size()), std::vector<float>(c.x.size()), std::vector<float>(c.w.size(), 0.f)};
    conv2d_forward(o.y.data(), c.x.data(), c.w.data(), c.d);
    conv2d_backward_data(o.dx.data(), c.dy.data(), c.w.data(), c.d, true);
    conv2d_backward_weights(o.dw.data(), nullptr, c.dy.data(), c.x.data(), c.d);
    return o;
  };
  struct Out {
    std::vector<float> lin, lin_dx, lin_dw, y, dx, dw, dx2, y3, dx3, bn, bn_dx;
    Out1x1 c4, c5, c6;
  };
  auto run = [&](int threads) {
    Out o;
    set_num_threads(threads);
    o.lin.resize(LN * LOUT);
    linear_forward(o.lin.data(), lx.data(), lw.data(), nullptr, LN, LIN, LOUT);
    o.lin_dx.assign(lx.size(), 0.f);
    o.lin_dw.assign(lw.size(), 0.f);
    linear_backward(o.lin_dx.data(), o.lin_dw.data(), nullptr, ldy.data(), lx.data(), lw.data(), LN, LIN, LOUT);
    o.y.resize(dy.size());
    conv2d_forward(o.y.data(), x.data(), w.data(), d);
    o.dx.assign(x.size(), 0.f);
    conv2d_backward_data(o.dx.data(), dy.data(), w.data(), d);
    o.dw.assign(w.size(), 0.f);
    conv2d_backward_weights(o.dw.data(), nullptr, dy.data(), x.data(), d);
    o.dx2.assign(x2.size(), 0.f);
    conv2d_backward_data(o.dx2.data(), dy2.data(), w2.data(), d2);
    o.y3.resize(dy3.size());
    conv2d_forward(o.y3.data(), x3.data(), w3.data(), d3);
    o.dx3.assign(x3.size(), 0.f);
    conv2d_backward_data(o.dx3.data(), dy3.data(), w3.data(), d3);
    o.c4 = run_1x1(c4);
    o.c5 = run_1x1(c5);
    o.c6 = run_1x1(c6);
    const int64_t P = d.N * d.OH * d.OW, C = d.OC;
    std::vector<float> g(C, 1.5f), bt(C, 0.5f), mean(C), is(C), dg(C), db(C);
    o.bn.resize(P * C);
    batchnorm_forward_train(o.bn.data(), mean.data(), is.data(), nullptr, nullptr, o.y.data(), g.data(), bt.data(), P,
                            C, 0.1f, 1e-5f);
    o.bn_dx.assign(P * C, 0.f);
    batchnorm_backward(o.bn_dx.data(), dg.data(), db.data(), nullptr, dy.data(), nullptr, o.y.data(), g.data(),
                       mean.data(), is.data(), P, C, true);
    return o;
  };
  const int before = num_threads();
  const Out a = run(1), b = run(3);
  set_num_threads(before);
  REQUIRE(a.lin == b.lin);
  REQUIRE(a.lin_dx == b.lin_dx);
  REQUIRE(a.lin_dw == b.lin_dw);
  REQUIRE(a.y == b.y);
  REQUIRE(a.dx == b.dx);
  REQUIRE(a.dw == b.dw);
  REQUIRE(a.dx2 == b.dx2);
  REQUIRE(a.y3 == b.y3);
  REQUIRE(a.dx3 == b.dx3);
  for (const auto& [p, q] : {std::pair{&a.c4, &b.c4}, std::pair{&a.c5, &b.c5}, std::pair{&a.c6, &b.c6}}) {
    REQUIRE(p->y == q->y);
    REQUIRE(p->dx == q->dx);
    REQUIRE(p->dw == q->dw);
  }
  REQUIRE(a.bn == b.bn);
  REQUIRE(a.bn_dx == b.bn_dx);
}

TEST_CASE("conv2d kernels match their direct twins on every ISA path") {
  struct Case {
    int64_t N, C, H, W, OC, k, stride, pad;
    bool bias;
  };
  const Case cases[] = {
      {1, 3, 17, 15, 5, 7, 2, 3, true},     // conv1-like, batch 1, odd sizes
      {2, 3, 31, 30, 64, 7, 2, 3, false},   // conv1 taps packed into K = 21, full vectors
      {2, 5, 9, 11, 7, 3, 1, 1, false},     // 3x3 same padding
      {3, 13, 7, 7, 17, 1, 1, 0, true},     // 1x1
      {2, 6, 8, 9, 10, 1, 2, 0, false},     // downsample 1x1 stride 2
      {2, 4, 10, 10, 3, 3, 2, 1, true},     // 3x3 stride 2
      {1, 2, 3, 3, 2, 3, 1, 0, false},      // 1x1 output
      {2, 3, 5, 4, 2, 7, 2, 3, false},      // kernel larger than the input
      {2, 64, 14, 14, 64, 3, 1, 1, false},  // a ResNet layer: whole vectors, several tiles a row
      {1, 70, 9, 13, 40, 3, 1, 1, false},   // channels not a multiple of 16
      {2, 33, 11, 11, 70, 3, 2, 1, false},  // stride 2, odd channels, odd size
      {3, 48, 7, 7, 96, 1, 2, 0, false},    // downsample on an odd map
      {1, 16, 6, 6, 16, 3, 1, 2, false},    // padding larger than needed for "same"
      // Wide reductions run the chunked schedule (weights of a channel block beyond L2):
      {2, 200, 9, 9, 70, 3, 1, 1, true},    // chunked forward (AVX-512) with the full epilogue
      {1, 300, 7, 5, 180, 3, 1, 1, false},  // chunked forward and chunked backward data
      {2, 260, 9, 8, 33, 3, 2, 1, true},    // chunked stride 2, tiles crossing rows and images
      {1, 1400, 5, 5, 20, 3, 1, 1, true},   // chunked on every ISA
      {1, 400, 6, 5, 24, 3, 1, 1, false},   // a kernel row wider than a chunk: one tap per chunk
      {2, 20, 6, 7, 520, 3, 2, 1, true},    // 512+ output channels: gradient rows spaced apart
      {1, 40, 6, 6, 256, 3, 1, 1, true},    // 256 output channels: forward weight rows spaced apart
      // Forward work items in superblocks of output-channel blocks, pixel groups outer, the
      // last superblock partial (AVX-512: 3 blocks of 4, 4, 2 vectors in superblocks of 2);
      // 288 output pixels in two equal groups.
      {2, 100, 12, 12, 160, 3, 1, 1, true},
      // 1x1 convolutions run as GEMMs over pixels (conv_1x1.h):
      {2, 1400, 5, 4, 20, 1, 1, 0, true},   // reduction in chunks, partial sums in the output
      {1, 24, 7, 7, 300, 1, 1, 0, false},   // batch 1: one pixel group, its blocks split
      {2, 10, 8, 7, 9, 1, 3, 0, true},      // stride 3: input rows and columns no output reads
      {3, 70, 15, 15, 130, 1, 2, 0, true},  // stride 2 on an odd map, several pixel groups
      {40, 7, 1, 1, 3, 1, 1, 0, true},      // Linear's shape: 1 x 1 images, one partial block
      {2, 40, 10, 9, 64, 1, 1, 0, false},   // OC a multiple of 16: weight gradient read in place
      {3, 20, 13, 11, 32, 1, 2, 0, true},   // the same, stride 2 on an odd map
      {2, 1030, 6, 5, 32, 1, 2, 0, false},  // C >= 1024: the input packed, the gradient in place
  };
  const std::vector<Isa> isas = test::isa_paths(true);  // ref: the packed forward's dense fallback too
  const Isa before = cpu_isa();
  for (Isa isa : isas) {
    force_isa(isa);
    Rng rng(3);
    double worst_f = 0, worst_d = 0, worst_w = 0;
    for (const Case& c : cases) {
      const ConvDims d = make_conv_dims(c.N, c.C, c.H, c.W, c.OC, c.k, c.k, c.stride, c.pad);
      const int64_t n_in = d.N * d.C * d.H * d.W, n_out = d.N * d.OC * d.OH * d.OW;
      const int64_t n_w = d.OC * d.C * d.KH * d.KW;
      auto x = randn(n_in, rng), w = randn(n_w, rng), b = randn(d.OC, rng);
      auto dy = randn(n_out, rng), res = randn(n_out, rng);
      ConvEpilogue ep;
      std::vector<float> scale(d.OC);
      for (int64_t oc = 0; oc < d.OC; ++oc) scale[oc] = 0.5f + 0.1f * (float)(oc % 7);
      if (c.bias) {
        ep.weight_scale = scale.data();  // the twin scales the weights, the kernel the sums
        ep.bias = b.data();
        ep.residual = res.data();
        ep.relu = true;
      }
      std::vector<float> y1(n_out, 7.f), y2(n_out, -7.f);
      conv2d_forward(y1.data(), x.data(), w.data(), d, ep);
      conv2d_forward_ref(y2.data(), x.data(), w.data(), d, ep);
      // The weights packed once (inference), the scale folded into them; a 1x1 GEMM reads them as
      // its panels.
      ConvEpilogue pep = ep;
      pep.weight_scale = nullptr;
      const ConvForwardWeights pw = pack_conv_forward(w.data(), c.bias ? scale.data() : nullptr, d);
      std::vector<float> y3(n_out, 3.f);
      conv2d_forward_packed(y3.data(), x.data(), pw, d, pep);
      double ep_packed = rel_err(y3, y2);
      if (c.bias) {
        // The output written over its residual (ConvEpilogue::residual), chunked reductions
        // included: the same values; with a weight scale (which would scale the residual) refused.
        std::vector<float> y4 = res;
        ConvEpilogue in_place = pep;
        in_place.residual = y4.data();
        conv2d_forward_packed(y4.data(), x.data(), pw, d, in_place);
        ep_packed = std::max(ep_packed, rel_err(y4, y2));
        if (isa != Isa::ref) {
          std::vector<float> y5 = res;
          in_place.weight_scale = scale.data();
          in_place.residual = y5.data();
          CHECK_THROWS(conv2d_forward(y5.data(), x.data(), w.data(), d, in_place));
        }
      }
      // Backward outputs start non-zero: both must accumulate.
      auto dx1 = randn(n_in, rng), dx2 = dx1, dx_init = dx1;
      auto dw1 = randn(n_w, rng), dw2 = dw1;
      auto db1 = randn(d.OC, rng), db2 = db1;
      conv2d_backward_data(dx1.data(), dy.data(), w.data(), d);
      conv2d_backward_data_ref(dx2.data(), dy.data(), w.data(), d);
      // set = true writes the gradient over whatever d_in held (NaN here).
      std::vector<float> dxs(n_in, NAN), dx_added(n_in);
      conv2d_backward_data(dxs.data(), dy.data(), w.data(), d, true);
      for (int64_t i = 0; i < n_in; ++i) dx_added[i] = dx1[i] - dx_init[i];
      CHECK(rel_err(dxs, dx_added) < 1e-5);
      conv2d_backward_weights(dw1.data(), c.bias ? db1.data() : nullptr, dy.data(), x.data(), d);
      conv2d_backward_weights_ref(dw2.data(), c.bias ? db2.data() : nullptr, dy.data(), x.data(), d);
      const double ef = std::max(rel_err(y1, y2), ep_packed), ed = rel_err(dx1, dx2);
      const double ew = std::max(rel_err(dw1, dw2), rel_err(db1, db2));
      INFO(isa_name(isa) << " N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC
                         << " k=" << c.k << " s=" << c.stride << " p=" << c.pad << " -> OH=" << d.OH << " OW=" << d.OW
                         << " errs " << ef << " " << ed << " " << ew);
      CHECK(ef < 1e-5);
      CHECK(ed < 1e-5);
      CHECK(ew < 1e-5);
      worst_f = std::max(worst_f, ef);
      worst_d = std::max(worst_d, ed);
      worst_w = std::max(worst_w, ew);
    }
    std::printf(
        "conv2d %s vs ref: max relative error forward %.3g, backward data %.3g, "
        "weights %.3g\n",
        isa_name(isa), worst_f, worst_d, worst_w);
  }
  force_isa(before);
}

TEST_CASE("packed forward weights made on one ISA path and run on another take the dense way, same results") {
  const Isa isa = cpu_isa();
  if (isa < Isa::avx512) {
    WARN("not run: needs the avx512 path (blocks of 64 channels) to pack and avx2 (16) to run");
    return;
  }
  Rng rng(21);
  const ConvDims d = make_conv_dims(2, 24, 9, 9, 100, 3, 3, 1, 1);  // 100 channels: 2 blocks on avx512, 7 on avx2
  const auto x = randn(d.N * d.H * d.W * d.C, rng), w = randn(d.KH * d.KW * d.C * d.OC, rng);
  std::vector<float> scale((size_t)d.OC);
  for (int64_t oc = 0; oc < d.OC; ++oc) scale[(size_t)oc] = 0.25f + 0.05f * (float)(oc % 11);
  const ConvForwardWeights pw = pack_conv_forward(w.data(), scale.data(), d);
  REQUIRE(pw.width == 64);
  ConvEpilogue ep;
  ep.weight_scale = scale.data();
  std::vector<float> want((size_t)(d.N * d.OH * d.OW * d.OC)), got(want.size(), 5.f);
  conv2d_forward_ref(want.data(), x.data(), w.data(), d, ep);
  force_isa(Isa::avx2);
  REQUIRE(conv_forward_block_width(d.OC) == 16);
  conv2d_forward_packed(got.data(), x.data(), pw, d);
  force_isa(isa);
  CHECK(rel_err(got, want) < 1e-5);
}

TEST_CASE("conv2d_forward with the max pool fused equals the convolution then the pool, on every ISA path") {
  const Isa isa = cpu_isa();
  for (const Isa path : {Isa::avx512, Isa::avx2, Isa::scalar, Isa::ref}) {
    if (path > isa) {
      WARN("not run: the " << isa_name(path) << " path (this CPU lacks it)");
      continue;
    }
    force_isa(path);
    test::check_pool_fusion(isa_name(path),
                            [](float* out, const std::vector<float>& x, const std::vector<float>& w, const ConvDims& d,
                               const ConvEpilogue& ep) { conv2d_forward(out, x.data(), w.data(), d, ep); });
    test::check_pool_fusion((std::string(isa_name(path)) + " packed").c_str(),
                            [](float* out, const std::vector<float>& x, const std::vector<float>& w, const ConvDims& d,
                               const ConvEpilogue& ep) {
                              conv2d_forward_packed(out, x.data(), pack_conv_forward(w.data(), nullptr, d), d, ep);
                            });
  }
  force_isa(isa);
}

TEST_CASE("a fused pool's bands fit the L2 and share an image's rows evenly") {
  const int64_t l2 = std::max<int64_t>(cpu_caches().l2, 64 << 10);
  for (const int64_t n : {1, 16}) {
    PoolDims pd = make_pool_dims(n, 64, 112, 112, 3, 2, 1);  // ResNet's stem at 224 px
    const int64_t r = pool_band_rows(pd), per_image = ceil_div(pd.OH, r);
    INFO("L2 " << l2 << " bytes: " << r << " pooled rows per band");
    CHECK((r == 1 || (double)((r - 1) * 2 + 3) * 112 * 64 * 4 <= 0.8 * (double)l2));
    CHECK(per_image * r - pd.OH < per_image);  // the last band short by less than one row per band
    CHECK(pool_bands(pd) == n * per_image);
    CHECK(pool_bands(pd) >= std::min<int64_t>(2 * omp_get_max_threads(), pd.OH * n));  // work for every thread
    const PoolBand last = pool_band(pd, pool_bands(pd) - 1);
    CHECK((last.n == n - 1 && last.ph0 + last.local.OH == pd.OH && last.r1 == pd.H));
    pd.band_rows = 5;
    CHECK((pool_band_rows(pd) == 5 && pool_bands(pd) == n * 12));
  }
}

TEST_CASE("layout conversions are inverse transposes and accumulate") {
  Rng rng(9);
  const int64_t N = 2, C = 37, H = 5, W = 7;
  auto x = randn(N * C * H * W, rng);
  std::vector<float> y(x.size()), z(x.size(), 1.f);
  nchw_to_nhwc(y.data(), x.data(), N, C, H * W);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < H * W; ++i) REQUIRE(y[(n * H * W + i) * C + c] == x[(n * C + c) * H * W + i]);
  nhwc_to_nchw(z.data(), y.data(), N, C, H * W, true);
  for (size_t i = 0; i < x.size(); ++i) REQUIRE(z[i] == x[i] + 1.f);
}

TEST_CASE("convolution weight reorders between PyTorch's [OC, C, KH, KW] and [KH, KW, C, OC]") {
  Rng rng(10);
  const int64_t OC = 5, C = 3, KH = 3, KW = 2;
  auto w = randn(OC * C * KH * KW, rng);
  std::vector<float> hwio(w.size()), back(w.size());
  oihw_to_hwio(hwio.data(), w.data(), OC, C, KH, KW);
  for (int64_t oc = 0; oc < OC; ++oc)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw)
          REQUIRE(hwio[((kh * KW + kw) * C + c) * OC + oc] == w[((oc * C + c) * KH + kh) * KW + kw]);
  hwio_to_oihw(back.data(), hwio.data(), OC, C, KH, KW);
  REQUIRE(back == w);
}

TEST_CASE("maxpool2d matches its twin on every ISA path, picks the first maximum, and routes gradients there") {
  struct Case {
    int64_t N, C, H, W, k, stride, pad;
  };
  // ResNet's stem pool on 64 channels, channel counts off the vector widths, windows at edges.
  const Case cases[] = {{2, 3, 9, 7, 3, 2, 1},  {1, 5, 8, 8, 2, 2, 0},    {2, 2, 5, 6, 3, 1, 1},
                        {1, 1, 2, 2, 3, 2, 1},  {1, 17, 13, 11, 3, 2, 1}, {2, 64, 15, 14, 3, 2, 1},
                        {1, 40, 7, 9, 3, 2, 1}, {1, 48, 7, 9, 3, 2, 1},   {1, 128, 7, 9, 3, 2, 1},
                        {2, 64, 5, 1, 3, 2, 1}};  // (inference: 64, 48 and 128 channels by blocks; W = 1)
  const Isa before = cpu_isa();
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if ((int)isa > (int)before) continue;
    force_isa(isa);
    Rng rng(4);
    for (const Case& c : cases) {
      INFO(isa_name(isa) << " C=" << c.C << " H=" << c.H << " W=" << c.W << " k=" << c.k);
      const PoolDims d = make_pool_dims(c.N, c.C, c.H, c.W, c.k, c.stride, c.pad);
      const int64_t n_in = d.N * d.C * d.H * d.W, n_out = d.N * d.C * d.OH * d.OW;
      std::vector<float> x(n_in);
      for (auto& v : x) {
        v = (float)rng.uniform_int(4) - 2.f;           // many ties, negatives near -inf pad
        if (v == 0.f && rng.uniform_int(2)) v = -0.f;  // ties of -0 and +0: the first one's sign
      }
      x[n_in / 2] = std::numeric_limits<float>::quiet_NaN();
      x[n_in / 3] = std::bit_cast<float>(0x7fc00123u);       // a NaN of another payload: the last one wins
      x[n_in / 5] = std::numeric_limits<float>::infinity();  // inf and -inf in a row: its sum a NaN
      if (n_in / 5 + d.C < n_in) x[n_in / 5 + d.C] = -std::numeric_limits<float>::infinity();
      std::vector<float> y1(n_out), y2(n_out);
      std::vector<int32_t> a1(n_out), a2(n_out);
      maxpool2d_forward(y1.data(), a1.data(), x.data(), d);
      maxpool2d_forward_ref(y2.data(), a2.data(), x.data(), d);
      for (int64_t i = 0; i < n_out; ++i) {
        REQUIRE(a1[i] == a2[i]);
        REQUIRE((y1[i] == y2[i] || (std::isnan(y1[i]) && std::isnan(y2[i]))));
      }
      // Inference (no argmax; the stem's 3-wide stride-2 windows by rows, then columns) gives the
      // running maximum's bits: the sign of a zero and the payload of a NaN included.
      std::vector<float> y3(n_out);
      maxpool2d_forward(y3.data(), nullptr, x.data(), d);
      REQUIRE(std::memcmp(y3.data(), y1.data(), sizeof(float) * (size_t)n_out) == 0);
      // Backward: every output gradient lands on its window's argmax, on top of what was there.
      std::vector<float> dy(n_out), dx(n_in, 0.25f), expect(n_in, 0.25f);
      for (int64_t i = 0; i < n_out; ++i) dy[i] = (float)(i % 7) + 1.f;
      maxpool2d_backward(dx.data(), dy.data(), a1.data(), d);
      const int64_t ohw = d.OH * d.OW, hw = d.H * d.W;
      for (int64_t i = 0; i < n_out; ++i) {
        const int64_t n = i / (ohw * d.C), ch = i % d.C;  // NHWC
        expect[(n * hw + a1[i]) * d.C + ch] += dy[i];
      }
      for (int64_t i = 0; i < n_in; ++i) REQUIRE(dx[i] == expect[i]);
      // With set, the old contents (NaN here) are ignored: the sums start from zero.
      std::fill(dx.begin(), dx.end(), std::numeric_limits<float>::quiet_NaN());
      maxpool2d_backward(dx.data(), dy.data(), a1.data(), d, true);
      for (int64_t i = 0; i < n_in; ++i) REQUIRE(dx[i] == expect[i] - 0.25f);
    }
    // First maximum in row-major window order: a 2x2 window of equal values picks its top-left.
    const PoolDims d = make_pool_dims(1, 1, 2, 2, 2, 2, 0);
    float x[4] = {1.f, 1.f, 1.f, 1.f}, y = 0;
    int32_t am = -1;
    maxpool2d_forward(&y, &am, x, d);
    REQUIRE(am == 0);
  }
  force_isa(before);
}

TEST_CASE("the int8 chains' pool on uint8 codes takes each window's maximum on every ISA path") {
  struct Case {
    int64_t N, C, H, W, k, stride, pad, band_rows;
  };
  // The stem's 3x3 stride-2 pool on 64 and 84 channels (a whole vector and a tail), in bands of a few
  // rows; channels off the vector width; windows at every edge; some pixels not wanted (null).
  const Case cases[] = {{2, 64, 15, 14, 3, 2, 1, 3}, {1, 84, 9, 7, 3, 2, 1, 2}, {1, 5, 8, 8, 2, 2, 0, 1},
                        {2, 128, 7, 9, 3, 2, 1, 0},  {1, 3, 5, 6, 3, 1, 1, 2},  {1, 64, 5, 1, 3, 2, 1, 1}};
  const Isa before = cpu_isa();
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if ((int)isa > (int)before) continue;
    force_isa(isa);
    Rng rng(6);
    for (const Case& c : cases) {
      INFO(isa_name(isa) << " C=" << c.C << " H=" << c.H << " W=" << c.W << " k=" << c.k);
      PoolDims d = make_pool_dims(c.N, c.C, c.H, c.W, c.k, c.stride, c.pad);
      d.band_rows = c.band_rows;
      std::vector<uint8_t> x((size_t)(d.N * d.H * d.W * d.C));
      for (auto& v : x) v = (uint8_t)rng.uniform_int(256);
      const int64_t n_out = d.N * d.OH * d.OW * d.C;
      std::vector<uint8_t> got((size_t)n_out, 0xAB);
      for (int64_t i = 0; i < pool_bands(d); ++i) {
        const PoolBand b = pool_band(d, i);
        const uint8_t* band = x.data() + (b.n * d.H + b.r0) * d.W * d.C;
        maxpool2d_band_codes(band, d, b, [&](int64_t r, int64_t pw) -> uint8_t* {
          if ((b.ph0 + r + pw) % 5 == 3) return nullptr;  // not held by the next copy
          return got.data() + ((b.n * d.OH + b.ph0 + r) * d.OW + pw) * d.C;
        });
      }
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t oh = 0; oh < d.OH; ++oh)
          for (int64_t ow = 0; ow < d.OW; ++ow)
            for (int64_t ch = 0; ch < d.C; ++ch) {
              int want = (oh + ow) % 5 == 3 ? 0xAB : 0;
              if ((oh + ow) % 5 != 3)
                for (int64_t ih = oh * d.stride_h - d.pad_h; ih < oh * d.stride_h - d.pad_h + d.KH; ++ih)
                  for (int64_t iw = ow * d.stride_w - d.pad_w; iw < ow * d.stride_w - d.pad_w + d.KW; ++iw)
                    if (ih >= 0 && ih < d.H && iw >= 0 && iw < d.W)
                      want = std::max<int>(want, x[(size_t)(((n * d.H + ih) * d.W + iw) * d.C + ch)]);
              REQUIRE((int)got[(size_t)(((n * d.OH + oh) * d.OW + ow) * d.C + ch)] == want);
            }
    }
  }
  force_isa(before);
}

TEST_CASE("linear kernels match their direct twins on every ISA path") {
  struct Case {
    int64_t N, IN, OUT;
  };
  // The classifier head (OUT below a vector), odd sizes, and a wide reduction.
  const Case cases[] = {{3, 37, 5}, {16, 512, 2}, {1, 1, 1}, {70, 600, 130}, {5, 1300, 17}};
  const Isa before = cpu_isa();
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if ((int)isa > (int)before) continue;
    force_isa(isa);
    Rng rng(5);
    for (const Case& c : cases) {
      auto x = randn(c.N * c.IN, rng), w = randn(c.OUT * c.IN, rng), b = randn(c.OUT, rng);
      auto dy = randn(c.N * c.OUT, rng);
      std::vector<float> y(c.N * c.OUT, 7.f), y_ref(c.N * c.OUT, -7.f);
      linear_forward(y.data(), x.data(), w.data(), b.data(), c.N, c.IN, c.OUT);
      linear_forward_ref(y_ref.data(), x.data(), w.data(), b.data(), c.N, c.IN, c.OUT);
      // Backward outputs start non-zero: both must accumulate.
      auto dx = randn(c.N * c.IN, rng), dx_ref = dx;
      auto dw = randn(c.OUT * c.IN, rng), dw_ref = dw;
      auto db = randn(c.OUT, rng), db_ref = db;
      linear_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), c.N, c.IN, c.OUT);
      linear_backward_ref(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), x.data(), w.data(), c.N, c.IN, c.OUT);
      INFO(isa_name(isa) << " N=" << c.N << " IN=" << c.IN << " OUT=" << c.OUT);
      CHECK(rel_err(y, y_ref) < 1e-5);
      CHECK(rel_err(dx, dx_ref) < 1e-5);
      CHECK(rel_err(dw, dw_ref) < 1e-5);
      CHECK(rel_err(db, db_ref) < 1e-5);
    }
  }
  force_isa(before);
}

TEST_CASE("softmax cross-entropy is stable and matches a double computation") {
  const int64_t N = 3, K = 4;
  const float logits[N * K] = {1000.f, 999.f,  998.f, -1000.f,  //
                               0.1f,   0.2f,   -0.3f, 0.4f,     //
                               -500.f, -501.f, 3.f,   2.f};
  const int labels[N] = {1, 3, 0};
  float loss = 0, probs[N * K];
  softmax_xent_forward(&loss, probs, logits, labels, N, K);
  double expect = 0;
  for (int64_t n = 0; n < N; ++n) {
    double mx = -1e300, s = 0;
    for (int64_t k = 0; k < K; ++k) mx = std::max(mx, (double)logits[n * K + k]);
    for (int64_t k = 0; k < K; ++k) s += std::exp(logits[n * K + k] - mx);
    for (int64_t k = 0; k < K; ++k)
      REQUIRE(probs[n * K + k] == Approx(std::exp(logits[n * K + k] - mx) / s).margin(1e-7));
    expect += std::log(s) + mx - logits[n * K + labels[n]];
  }
  expect /= N;
  REQUIRE(std::isfinite(loss));
  REQUIRE(loss == Approx(expect).epsilon(1e-6));
  float d[N * K];
  std::fill(d, d + N * K, 1.f);
  softmax_xent_backward(d, 2.f, probs, labels, N, K);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      REQUIRE(d[n * K + k] == Approx(1.f + 2.f / N * (probs[n * K + k] - (k == labels[n] ? 1.f : 0.f))));
  float p2[N * K];
  softmax_forward(p2, logits, N, K);
  for (int64_t i = 0; i < N * K; ++i) REQUIRE(p2[i] == probs[i]);
}

TEST_CASE("batchnorm kernels match a double-precision reference, fuse residual and ReLU, and accumulate") {
  Rng rng(6);
  const int64_t P = 600, C = 17, n = P;  // more pixels than one partial-sum block
  auto x = randn(P * C, rng), dy = randn(P * C, rng), res = randn(P * C, rng);
  for (auto& v : x) v = v * 3.f + 2.f;
  auto gamma = randn(C, rng), beta = randn(C, rng);
  std::vector<float> rm(C), rv(C);
  for (int64_t c = 0; c < C; ++c) rm[c] = rng.normal(), rv[c] = 0.5f + (float)rng.uniform();
  const float momentum = 0.1f, eps = 1e-5f;
  const std::vector<Isa> isas = test::isa_paths(true);  // ref: the _ref twins, through the dispatch
  const Isa isa_before = cpu_isa();
  for (Isa isa : isas)
    for (int fused = 0; fused < 2; ++fused) {
      force_isa(isa);
      for (bool training : {true, false}) {
        BnFuse fuse;
        if (fused) fuse.residual = res.data(), fuse.relu = true;
        std::vector<float> y(x.size()), mean(C), invstd(C), rm1 = rm, rv1 = rv;
        if (training)
          batchnorm_forward_train(y.data(), mean.data(), invstd.data(), rm1.data(), rv1.data(), x.data(), gamma.data(),
                                  beta.data(), P, C, momentum, eps, fuse);
        else
          batchnorm_forward_eval(y.data(), mean.data(), invstd.data(), x.data(), gamma.data(), beta.data(), rm.data(),
                                 rv.data(), P, C, eps, fuse);
        auto dx = randn(x.size(), rng), dx0 = dx;
        auto dr = randn(x.size(), rng), dr0 = dr;
        auto dg = randn(C, rng), dg0 = dg, db = randn(C, rng), db0 = db;
        batchnorm_backward(dx.data(), dg.data(), db.data(), fused ? dr.data() : nullptr, dy.data(),
                           fused ? y.data() : nullptr, x.data(), gamma.data(), mean.data(), invstd.data(), P, C,
                           training);
        // Writing instead of adding (first contributor to a fresh grad): the same increments.
        std::vector<float> dxw(x.size(), NAN), drw(x.size(), NAN), dgw(C, 0.f), dbw(C, 0.f);
        batchnorm_backward(dxw.data(), dgw.data(), dbw.data(), fused ? drw.data() : nullptr, dy.data(),
                           fused ? y.data() : nullptr, x.data(), gamma.data(), mean.data(), invstd.data(), P, C,
                           training, true, true);
        for (size_t i = 0; i < x.size(); ++i) {
          REQUIRE(dxw[i] == Approx(dx[i] - dx0[i]).margin(1e-4));
          if (fused) REQUIRE(drw[i] == Approx(dr[i] - dr0[i]).margin(1e-4));
        }
        double worst = 0;
        for (int64_t c = 0; c < C; ++c) {
          double m = 0, v = 0;
          for (int64_t p = 0; p < P; ++p) m += x[p * C + c];
          m /= n;
          for (int64_t p = 0; p < P; ++p) v += std::pow(x[p * C + c] - m, 2);
          if (training) {
            CHECK(rm1[c] == Approx(0.9 * rm[c] + 0.1 * m).epsilon(1e-6).margin(1e-7));
            CHECK(rv1[c] == Approx(0.9 * rv[c] + 0.1 * v / (n - 1)).epsilon(1e-6));
            v /= n;
          } else {
            m = rm[c], v = rv[c];
          }
          const double is = 1.0 / std::sqrt(v + eps);
          // Gradient reaching BN: dy where the fused output is positive.
          auto g = [&](int64_t k) {
            const double pre = (x[k] - m) * is * gamma[c] + beta[c] + (fused ? res[k] : 0.0);
            return fused && !(pre > 0) ? 0.0 : (double)dy[k];
          };
          double sdy = 0, sdyx = 0;
          for (int64_t p = 0; p < P; ++p) {
            const int64_t k = p * C + c;
            const double xh = (x[k] - m) * is;
            double expect = xh * gamma[c] + beta[c];
            if (fused) expect = std::max(0.0, expect + res[k]);
            worst = std::max(worst, std::fabs(y[k] - expect));
            sdy += g(k);
            sdyx += g(k) * xh;
            if (fused) worst = std::max(worst, std::fabs(dr[k] - (dr0[k] + g(k))));
          }
          worst = std::max({worst, std::fabs(db[c] - (db0[c] + sdy)), std::fabs(dg[c] - (dg0[c] + sdyx))});
          for (int64_t p = 0; p < P; ++p) {
            const int64_t k = p * C + c;
            const double xh = (x[k] - m) * is;
            const double gr = training ? gamma[c] * is * (g(k) - sdy / n - xh * sdyx / n) : gamma[c] * is * g(k);
            worst = std::max(worst, std::fabs(dx[k] - (dx0[k] + gr)));
          }
        }
        std::printf("batchnorm %s %s%s vs double reference: max abs error %.3g\n", isa_name(isa),
                    training ? "train" : "eval", fused ? " +residual+relu" : "", worst);
        CHECK(worst < 5e-5);
      }
    }
  force_isa(isa_before);
}

// Two slices of one batch, each normalised by its own thread with a BnSync that adds the two
// threads' statistics (as two MPI ranks would), must give what the whole batch gives.
class TwoSliceSum : public BnSync {
 public:
  void sum(double* v, int64_t n) const override {
    std::unique_lock<std::mutex> lk(mu_);
    const int gen = gen_;
    const int me = arrived_++;
    parts_[me].assign(v, v + n);
    if (arrived_ == 2) {
      arrived_ = 0;
      ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(lk, [&] { return gen_ != gen; });
    }
    for (int64_t i = 0; i < n; ++i) v[i] = parts_[0][i] + parts_[1][i];  // slot order: same on both
    if (++read_ == 2) read_ = 0, cv_.notify_all();
    else cv_.wait(lk, [&] { return read_ == 0; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable int arrived_ = 0, gen_ = 0, read_ = 0;
  mutable std::vector<double> parts_[2];
};

TEST_CASE("synchronized batchnorm over two slices equals batchnorm over the whole batch") {
  Rng rng(8);
  const int64_t P = 600, C = 13, P0 = 250;  // slices not aligned to the partial-sum blocks
  auto x = randn(P * C, rng), dy = randn(P * C, rng), res = randn(P * C, rng);
  for (auto& v : x) v = v * 2.f + 1.f;
  auto gamma = randn(C, rng), beta = randn(C, rng);
  std::vector<float> rm(C, 0.5f), rv(C, 2.f);
  const std::vector<Isa> isas = test::isa_paths(true);
  const Isa isa_before = cpu_isa();
  for (Isa isa : isas) {
    force_isa(isa);
    BnFuse fuse;
    fuse.residual = res.data();
    fuse.relu = true;
    std::vector<float> y(P * C), mean(C), invstd(C), rmw = rm, rvw = rv, dx(P * C), dg(C, 0.f), db(C, 0.f);
    batchnorm_forward_train(y.data(), mean.data(), invstd.data(), rmw.data(), rvw.data(), x.data(), gamma.data(),
                            beta.data(), P, C, 0.1f, 1e-5f, fuse);
    batchnorm_backward(dx.data(), dg.data(), db.data(), nullptr, dy.data(), y.data(), x.data(), gamma.data(),
                       mean.data(), invstd.data(), P, C, true, true);
    for (const bool with_sums : {false, true}) {  // statistics from the input, or from its sums (tile_sums.h)
      TwoSliceSum sync;
      std::vector<float> ys(P * C), dxs(P * C), dgs[2], dbs[2], rms[2], rvs[2];
      auto slice = [&](int k) {
        const int64_t p0 = k ? P0 : 0, n = k ? P - P0 : P0, o = p0 * C;
        BnFuse f = fuse;
        f.residual = res.data() + o;
        std::vector<float> m(C), is(C);
        std::vector<double> in_sums((size_t)(2 * C));
        channel_sums_exact(in_sums.data(), x.data() + o, n, C);
        rms[k] = rm, rvs[k] = rv, dgs[k].assign(C, 0.f), dbs[k].assign(C, 0.f);
        batchnorm_forward_train(ys.data() + o, m.data(), is.data(), rms[k].data(), rvs[k].data(), x.data() + o,
                                gamma.data(), beta.data(), n, C, 0.1f, 1e-5f, f, &sync,
                                with_sums ? in_sums.data() : nullptr);
        batchnorm_backward(dxs.data() + o, dgs[k].data(), dbs[k].data(), nullptr, dy.data() + o, ys.data() + o,
                           x.data() + o, gamma.data(), m.data(), is.data(), n, C, true, true, false, &sync);
      };
      std::thread t1(slice, 1);
      slice(0);
      t1.join();
      double worst = 0;
      for (int64_t i = 0; i < P * C; ++i)
        worst = std::max({worst, (double)std::fabs(ys[i] - y[i]), (double)std::fabs(dxs[i] - dx[i])});
      for (int64_t c = 0; c < C; ++c)
        for (int k = 0; k < 2; ++k)
          worst = std::max({worst, (double)std::fabs(rms[k][c] - rmw[c]), (double)std::fabs(rvs[k][c] - rvw[c]),
                            (double)std::fabs(dgs[0][c] + dgs[1][c] - dg[c]),
                            (double)std::fabs(dbs[0][c] + dbs[1][c] - db[c])});
      // Each slice's own d_gamma is its share, not the whole (the gradient sum adds the shares).
      CHECK(std::fabs(dbs[0][0] - db[0]) > 1e-3);
      std::printf("synchronized batchnorm %s%s, two slices vs whole batch: max abs difference %.3g\n", isa_name(isa),
                  with_sums ? " from sums" : "", worst);
      CHECK(worst < 2e-5);
    }
  }
  force_isa(isa_before);
}

TEST_CASE("reference mode runs the _ref twins, on one thread") {
  Rng rng(11);
  const ConvDims d = make_conv_dims(2, 20, 9, 8, 24, 3, 3, 2, 1);
  const int64_t n_in = d.N * d.H * d.W * d.C, n_out = d.N * d.OH * d.OW * d.OC;
  const int64_t n_w = d.KH * d.KW * d.C * d.OC;
  auto x = randn(n_in, rng), w = randn(n_w, rng), dy = randn(n_out, rng);
  const Isa before = cpu_isa();
  force_isa(Isa::ref);
  REQUIRE(cpu_isa() == Isa::ref);
  REQUIRE(reference_kernels());
  REQUIRE(std::string(isa_name(cpu_isa())) == "ref");
  // Bit for bit what the twins compute: the kernels dispatched to them.
  std::vector<float> y(n_out), y_ref(n_out), dx(n_in, NAN), dx_ref(n_in, NAN);
  std::vector<float> dw(n_w, 0.f), dw_ref(n_w, 0.f);
  conv2d_forward(y.data(), x.data(), w.data(), d);
  conv2d_forward_ref(y_ref.data(), x.data(), w.data(), d);
  conv2d_backward_data(dx.data(), dy.data(), w.data(), d, true);
  conv2d_backward_data_ref(dx_ref.data(), dy.data(), w.data(), d, true);
  conv2d_backward_weights(dw.data(), nullptr, dy.data(), x.data(), d);
  conv2d_backward_weights_ref(dw_ref.data(), nullptr, dy.data(), x.data(), d);
  CHECK(y == y_ref);
  CHECK(dx == dx_ref);
  CHECK(dw == dw_ref);
  const int64_t IN = n_in / d.N, OUT = 5;  // the input images as N rows of IN features
  auto lw = randn(OUT * IN, rng);
  std::vector<float> lin(d.N * OUT), lin_ref(d.N * OUT);
  linear_forward(lin.data(), x.data(), lw.data(), nullptr, d.N, IN, OUT);
  linear_forward_ref(lin_ref.data(), x.data(), lw.data(), nullptr, d.N, IN, OUT);
  CHECK(lin == lin_ref);
  // Every kernel stays on the calling thread, however much work it has.
  CHECK(!use_threads(1e12, kMinParallelFlops));
  force_isa(before);
  CHECK(!reference_kernels());
}

TEST_CASE("work runs hand out every item once, own run first, and let a fast thread take a slow one's items") {
  // One caller: its own run front to back, then the others' from the back, the longest first.
  WorkRuns one(3, [](int t) { return int64_t(4) * (t + 1) - (t == 2 ? 2 : 0); });  // runs 0-3, 4-7, 8-9
  std::vector<int64_t> order;
  for (int64_t i; one.next(0, i);) order.push_back(i);
  REQUIRE(order == std::vector<int64_t>{0, 1, 2, 3, 7, 6, 5, 9, 4, 8});  // ties: the first run
  WorkRuns none(2, [](int) { return int64_t(0); });
  int64_t unused = -1;
  REQUIRE_FALSE(none.next(1, unused));

  // Three threads, thread 0 slow: every item exactly once, and thread 0 runs fewer than its third.
  const int64_t n = 300;
  WorkRuns runs(3, [&](int t) { return n * (t + 1) / 3; });
  std::vector<std::vector<int64_t>> took(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      for (int64_t i; runs.next(t, i);) {
        took[(size_t)t].push_back(i);
        if (t == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
      }
    });
  for (std::thread& th : threads) th.join();
  std::vector<int> count((size_t)n, 0);
  for (const auto& v : took)
    for (int64_t i : v) ++count[(size_t)i];
  REQUIRE(std::all_of(count.begin(), count.end(), [](int c) { return c == 1; }));
  INFO("thread 0 ran " << took[0].size() << " of its " << n / 3);
  REQUIRE(took[0].size() < (size_t)(n / 3));
  REQUIRE(std::is_sorted(took[0].begin(), took[0].end()));  // its own run, in order, nothing stolen
}
