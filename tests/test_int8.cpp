// int8 inference (engine/kernels/conv_int8.h, weights/calibrate.h): quantize_u8's rounding and
// clamping, the image's quantization (codes = pixels), per-channel input scales and zero points,
// the per-channel weight packing, the reference twin against the fp32 reference
// convolution of the dequantized operands, the AVX512-VNNI tiles against the twin bit for bit
// (int32 sums and the epilogue; the quantizing pass against quantize_u8), thread independence,
// the dispatch below avx512, calibration and its metadata round trip, and a whole ResNet-18 at
// int8 against fp32. Without AVX512-VNNI the kernel cases print "not run: CPU lacks AVX512-VNNI"
// and ctest reports this executable as skipped (CMakeLists.txt), never as passed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <tuple>
#include <vector>

#include "agreement_model.h"
#include "base/error.h"
#include "base/rng.h"
#include "base/threads.h"
#include "conv_cases.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/conv_int8.h"
#include "layers/layers.h"
#include "lowp_tile_cases.h"
#include "weights/calibrate.h"
#include "weights/model.h"
#include "weights/model_forward.h"

using namespace ds;

namespace {

using test::Case;
using test::dims;
using test::kCases;
using test::randn;

// Activations of the kind int8 sees: post-ReLU (half zeros), some past act_max (saturating).
std::vector<float> relu_randn(int64_t n, Rng& rng) {
  std::vector<float> v((size_t)n);
  for (auto& x : v) x = std::max(0.0f, rng.normal());
  return v;
}

bool vnni_available() { return test::kernels_run(has_vnni_kernels(), "AVX512-VNNI and AVX-VNNI", "avx2"); }

// The max pool fused into one instance's convolution (ConvEpilogue::max_pool): the 3-channel
// shapes quantized as the image (fractional zero points: the padding's per-pixel biases), the
// others over a range.
void check_int8_pool_fusion(const ConvInt8Kernels& k, const char* name) {
  test::check_pool_fusion(name, [&](float* out, const std::vector<float>& x, const std::vector<float>& w,
                                    const ConvDims& d, const ConvEpilogue& ep) {
    const Int8Input in = d.C == 3 ? Int8Input::image({0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f})
                                  : Int8Input::range(d.C, 2.5f, -2.5f);
    const ConvInt8Weights p = pack_conv_int8(w.data(), nullptr, d.KH, d.KW, d.C, d.OC, in);
    conv2d_forward_int8_on(k, out, x.data(), p, d, ep);
  });
}

// p's int8 weights as fp32 in the layers' layout [KH, KW, C, OC]: q_w s_w[oc] s / s_c, the input
// scales `in_scale` (per channel; null: per tensor, factor 1) with s their largest.
std::vector<float> dequantized_weights(const ConvInt8Weights& p, const std::vector<float>* in_scale = nullptr) {
  std::vector<float> wq((size_t)(p.KH * p.KW * p.C * p.OC));
  const float s = in_scale ? *std::max_element(in_scale->begin(), in_scale->end()) : 1.0f;
  for (int64_t kh = 0; kh < p.KH; ++kh)
    for (int64_t kw = 0; kw < p.KW; ++kw)
      for (int64_t c = 0; c < p.C; ++c)
        for (int64_t oc = 0; oc < p.OC; ++oc)
          wq[(size_t)(((kh * p.KW + kw) * p.C + c) * p.OC + oc)] =
              in_scale ? (float)((double)p.at(kh, kw, c, oc) * p.w_scale[(size_t)oc] * s / (*in_scale)[(size_t)c])
                       : p.at(kh, kw, c, oc) * p.w_scale[(size_t)oc];
  return wq;
}

// max |y - ref| over max(1, max |ref|).
double rel_error(const std::vector<float>& y, const std::vector<float>& ref) {
  double e = 0, m = 1;
  for (size_t i = 0; i < y.size(); ++i) {
    e = std::max(e, (double)std::fabs(y[i] - ref[i]));
    m = std::max(m, (double)std::fabs(ref[i]));
  }
  return e / m;
}

}  // namespace

TEST_CASE("quantize_u8 rounds to nearest even and clamps to 0..255") {
  CHECK(quantize_u8(0.5f, 1.0f) == 0);  // halfway: even
  CHECK(quantize_u8(1.5f, 1.0f) == 2);
  CHECK(quantize_u8(2.5f, 1.0f) == 2);
  CHECK(quantize_u8(2.5001f, 1.0f) == 3);
  CHECK(quantize_u8(-3.0f, 1.0f) == 0);
  CHECK(quantize_u8(254.6f, 1.0f) == 255);
  CHECK(quantize_u8(1e30f, 1.0f) == 255);
  CHECK(quantize_u8(std::numeric_limits<float>::infinity(), 1.0f) == 255);
  CHECK(quantize_u8(-std::numeric_limits<float>::infinity(), 1.0f) == 0);
  CHECK(quantize_u8(std::numeric_limits<float>::quiet_NaN(), 1.0f) == 0);
  CHECK(quantize_u8(2.0f, 255.0f / 4.0f) == 128);  // 127.5 -> 128 (even)
}

TEST_CASE("pack_conv_int8 quantizes per output channel, in the tiles' order, zeros past the kernel row and OC") {
  Rng rng(2);
  const int64_t KH = 3, KW = 3, C = 5, OC = 70;
  auto w = randn(KH * KW * C * OC, rng), scale = randn(OC, rng);
  for (int64_t i = 0; i < KH * KW * C; ++i) w[(size_t)(i * OC + 3)] = 0;  // an all-zero channel
  const float act_max = 6.0f;
  const ConvInt8Weights p = pack_conv_int8(w.data(), scale.data(), KH, KW, C, OC, act_max);
  CHECK(p.Cp == C);  // channels unpadded: a kernel row's 15 inputs are 4 groups, the last one 3 + a zero weight
  CHECK(p.NV == 4);
  CHECK(p.nb == 2);
  CHECK(p.kg == 4);
  CHECK((int64_t)p.packed.size() == p.nb * KH * p.kg * 64 * 4);
  CHECK(p.in_inv == std::vector<float>((size_t)C, 255.0f / act_max));
  CHECK(p.uniform);
  for (int64_t oc = 0; oc < OC; ++oc) {
    double m = 0;
    for (int64_t k = 0; k < KH * KW * C; ++k)
      m = std::max(m, std::fabs((double)(w[(size_t)(k * OC + oc)] * scale[(size_t)oc])));
    if (oc == 3) CHECK(p.w_scale[3] == 1.0f);
    else CHECK(p.w_scale[(size_t)oc] == Approx(m / 127).epsilon(1e-6));
    CHECK(p.out_scale[(size_t)oc] == (act_max / 255.0f) * p.w_scale[(size_t)oc]);
  }
  int extremes = 0;
  for (int64_t kh = 0; kh < KH; ++kh)
    for (int64_t kw = 0; kw < KW; ++kw)
      for (int64_t c = 0; c < p.Cp; ++c)
        for (int64_t oc = 0; oc < p.nb * 64; ++oc) {
          const int q = p.at(kh, kw, c, oc);
          if (c >= C || oc >= OC) {
            REQUIRE(q == 0);
            continue;
          }
          const float v = w[(size_t)(((kh * KW + kw) * C + c) * OC + oc)] * scale[(size_t)oc];
          const float s = p.w_scale[(size_t)oc];
          REQUIRE(q >= -127);
          REQUIRE(std::fabs(q * s - v) <= 0.5f * s * (1 + 1e-5f));  // within half a step
          extremes += std::abs(q) == 127;
        }
  CHECK(extremes >= OC - 1);               // each channel's largest weight maps to +-127
  for (int64_t b = 0; b < p.nb * KH; ++b)  // the reduction indices past each kernel row: zero weights
    for (int64_t k = KW * C; k < p.kg * 4; ++k)
      for (int64_t l = 0; l < 64; ++l) REQUIRE(p.packed[(size_t)(((b * p.kg + k / 4) * 64 + l) * 4 + k % 4)] == 0);
}

TEST_CASE("the int8 reference twin is the fp32 reference convolution of the dequantized operands") {
  Rng rng(3);
  for (const Case& c : kCases)
    for (const bool is_signed : {false, true}) {
      const ConvDims d = dims(c);
      if (d.C * d.KH * d.KW * d.OC > 200000) continue;  // the direct loops are slow
      auto [x, w, b, res, n_out] = test::operands(d, rng, !is_signed);
      std::vector<float> scale((size_t)d.OC);
      for (int64_t oc = 0; oc < d.OC; ++oc) scale[(size_t)oc] = 0.5f + 0.1f * (float)(oc % 7);
      // Inputs past 2 saturate; signed ones below -1.3 too, the zero point round(1.3 * 255 / 3.3).
      const float act_max = 2.0f, act_min = is_signed ? -1.3f : 0.0f;
      const ConvInt8Weights p = pack_conv_int8(w.data(), scale.data(), d.KH, d.KW, d.C, d.OC, act_max, act_min);
      CHECK(p.zero[0] == (is_signed ? 100.0f : 0.0f));
      // Dequantized operands: (q_x - z) * s_x and q_w * s_w, whose exact products the twin sums (a
      // padding tap is code z there, 0.0 here).
      std::vector<float> xq(x.size());
      for (size_t i = 0; i < x.size(); ++i)
        xq[i] = ((float)quantize_u8(x[i], p.in_inv[0], p.zero[0]) - p.zero[0]) * ((act_max - act_min) / 255.0f);
      const std::vector<float> wq = dequantized_weights(p);
      const ConvEpilogue ep = test::epilogue(c, b, res);
      std::vector<float> y1((size_t)n_out, 7.f), y2((size_t)n_out, -7.f);
      conv2d_forward_int8_ref(y1.data(), x.data(), p, d, ep);
      conv2d_forward_ref(y2.data(), xq.data(), wq.data(), d, ep);
      INFO("C=" << c.C << " OC=" << c.OC << " k=" << c.k << " signed " << is_signed);
      CHECK(rel_error(y1, y2) < 1e-5);
    }
}

namespace {

// torchvision's ImageNet normalization, the demo's, and one whose zero points 255 * mean are
// whole numbers or at the ends.
const std::vector<std::pair<std::vector<float>, std::vector<float>>> kNorms = {
    {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
    {{0.905427f, 0.7102338f, 0.8236385f}, {0.111465566f, 0.12622827f, 0.09704872f}},
    {{0.0f, 128.0f / 255.0f, 1.0f}, {1.0f, 0.01f, 3.0f}}};

// A row of every pixel value in every channel, normalized as normalize_patch does.
std::vector<float> every_pixel(const std::vector<float>& mean, const std::vector<float>& std) {
  std::vector<float> x(256 * 3);
  for (int v = 0; v < 256; ++v)
    for (int c = 0; c < 3; ++c) x[(size_t)(3 * v + c)] = ((float)v / 255.0f - mean[(size_t)c]) / std[(size_t)c];
  return x;
}

// The kernels' side of chains, on one instance: a producer writing a reader's codes in its epilogue
// (with and without its fp32 output; the reader 3x3 stride 1 or 2, or a strided 1x1 reading every
// other pixel; a producer with the stem's max pool) and the reader run from those codes alone (no
// fp32 input) give the reader's output from the producer's fp32 output, bit for bit. The producer
// has 84 channels (two blocks of 64, the second 20 wide: vectors with a tail) on odd and even sizes (a stride-2 reader
// of an even size leaves out the last padding row and column).
void check_int8_chains(const ConvInt8Kernels& k, const char* name) {
  Rng rng(77);
  // The reader (k x k, stride, pad; 16 channels) of y (the producer's output, or its pool's) from
  // fp32 and from the codes the producer (x, pw, pd, pep) wrote: equal bit for bit.
  auto check_reader = [&](const std::vector<float>& x, const ConvInt8Weights& pw, const ConvDims& pd,
                          const ConvEpilogue& pep, const std::vector<float>& y, int64_t H, int64_t W, int kk,
                          int stride, int pad) {
    const ConvDims rd = make_conv_dims(pd.N, pd.OC, H, W, 16, kk, kk, stride, pad);
    const std::vector<float> rw = randn(kk * kk * pd.OC * 16, rng);
    const ConvInt8Weights r = pack_conv_int8(rw.data(), nullptr, kk, kk, pd.OC, 16, 3.0f);
    std::vector<float> want((size_t)(rd.N * rd.OH * rd.OW * rd.OC)), got(want.size());
    conv2d_forward_int8_on(k, want.data(), y.data(), r, rd);
    Int8Chain out;
    REQUIRE(int8_codes_spec(r, rd, &out.out_spec));
    for (bool store_float : {true, false}) {
      std::vector<uint8_t> codes((size_t)out.out_spec.bytes(), 0xAB);  // the padding must be written too
      std::vector<float> y2(y.size(), -1.0f);
      out.out = codes.data();
      out.store_float = store_float;
      conv2d_forward_int8_on(k, store_float ? y2.data() : nullptr, x.data(), pw, pd, pep, out);
      if (store_float) CHECK(y2 == y);
      Int8Chain in;
      in.in = codes.data();
      in.in_spec = out.out_spec;
      std::fill(got.begin(), got.end(), -1.0f);
      conv2d_forward_int8_on(k, got.data(), nullptr, r, rd, {}, in);
      CHECK(std::memcmp(got.data(), want.data(), sizeof(float) * got.size()) == 0);
      // Another reader of y with the same quantization, a 1x1 with the reader's stride (a block's
      // downsample beside its conv1), reads the copy made for the reader where it holds its taps.
      // (DC channels out: two blocks, the second 20 wide.)
      constexpr int64_t DC = 84;
      const ConvDims dd = make_conv_dims(pd.N, pd.OC, H, W, DC, 1, 1, stride, 0);
      const std::vector<float> dw = randn(pd.OC * DC, rng);
      const ConvInt8Weights dpk = pack_conv_int8(dw.data(), nullptr, 1, 1, pd.OC, DC, 3.0f);
      Int8CodesSpec dspec;
      REQUIRE(int8_codes_spec(dpk, dd, &dspec));
      REQUIRE(int8_codes_readable(out.out_spec, dspec, dd));
      // Not: another quantization, or taps the copy does not hold (a 3x3 reading a strided 1x1's).
      const ConvInt8Weights other_range = pack_conv_int8(dw.data(), nullptr, 1, 1, pd.OC, DC, 2.0f);
      Int8CodesSpec ospec;
      REQUIRE(int8_codes_spec(other_range, dd, &ospec));
      CHECK(!int8_codes_readable(out.out_spec, ospec, dd));
      const ConvDims d3 = make_conv_dims(pd.N, pd.OC, H, W, 16, 3, 3, 1, 1);
      Int8CodesSpec s3;
      REQUIRE(int8_codes_spec(r, d3, &s3));
      const LowpInputLayout& l = out.out_spec.layout;
      const bool holds = !l.subsampled() && l.Hp >= H + 2 && l.Wp >= W + 2;  // a stride-2 copy of an odd size does
      REQUIRE(int8_codes_readable(out.out_spec, s3, d3) == holds);
      if (holds) {
        std::vector<float> want3((size_t)(d3.N * d3.OH * d3.OW * 16)), got3(want3.size(), -1.0f);
        conv2d_forward_int8_on(k, want3.data(), y.data(), r, d3);
        conv2d_forward_int8_on(k, got3.data(), nullptr, r, d3, {}, in);
        CHECK(std::memcmp(got3.data(), want3.data(), sizeof(float) * got3.size()) == 0);
      }
      std::vector<float> dwant((size_t)(dd.N * dd.OH * dd.OW * DC)), dgot(dwant.size(), -1.0f);
      conv2d_forward_int8_on(k, dwant.data(), y.data(), dpk, dd);
      conv2d_forward_int8_on(k, dgot.data(), nullptr, dpk, dd, {}, in);
      CHECK(std::memcmp(dgot.data(), dwant.data(), sizeof(float) * dgot.size()) == 0);
      // That downsample fused into a convolution of the reader's shape with its channels (a block's
      // last one; Int8Chain::res_w): its residual computed in the tiles equals the downsample's
      // stored output (with a bias) added as ep.residual, bit for bit.
      const ConvDims md = make_conv_dims(pd.N, pd.OC, H, W, DC, kk, kk, stride, pad);
      const std::vector<float> mw = randn(kk * kk * pd.OC * DC, rng), dbias = randn(DC, rng);
      const ConvInt8Weights mpk = pack_conv_int8(mw.data(), nullptr, kk, kk, pd.OC, DC, 3.0f);
      ConvEpilogue dep;
      dep.bias = dbias.data();
      std::vector<float> dres(dwant.size()), mwant(dres.size()), mgot(dres.size(), -1.0f);
      conv2d_forward_int8_on(k, dres.data(), nullptr, dpk, dd, dep, in);
      ConvEpilogue mep;
      mep.relu = true;
      mep.residual = dres.data();
      conv2d_forward_int8_on(k, mwant.data(), nullptr, mpk, md, mep, in);
      Int8Chain fused = in;
      fused.res_w = &dpk;
      fused.res_d = dd;
      fused.res_bias = dbias.data();
      fused.res_in = codes.data();
      fused.res_in_spec = out.out_spec;
      CHECK_THROWS_WITH(conv2d_forward_int8_on(k, mgot.data(), nullptr, mpk, md, mep, fused),
                        Catch::Contains("second residual"));
      mep.residual = nullptr;
      conv2d_forward_int8_on(k, mgot.data(), nullptr, mpk, md, mep, fused);
      CHECK(std::memcmp(mgot.data(), mwant.data(), sizeof(float) * mgot.size()) == 0);
      // The same writing the next convolution's codes (a 1x1 reader) with no fp32 output, and with
      // the main convolution quantizing its own fp32 input (no input codes): the same codes.
      const ConvDims nd = make_conv_dims(md.N, DC, md.OH, md.OW, 16, 1, 1, 1, 0);
      const std::vector<float> nw = randn(DC * 16, rng);
      const ConvInt8Weights npk = pack_conv_int8(nw.data(), nullptr, 1, 1, DC, 16, 3.0f);
      Int8Chain unfused = in;
      REQUIRE(int8_codes_spec(npk, nd, &unfused.out_spec));
      std::vector<uint8_t> want_codes((size_t)unfused.out_spec.bytes(), 0);
      unfused.out = want_codes.data();
      mep.residual = dres.data();
      conv2d_forward_int8_on(k, mwant.data(), nullptr, mpk, md, mep, unfused);
      mep.residual = nullptr;
      for (bool own_input : {false, true}) {
        std::vector<uint8_t> got_codes(want_codes.size(), 0xAB);
        Int8Chain f = fused;
        f.in = own_input ? nullptr : f.in;
        f.out = got_codes.data();
        f.out_spec = unfused.out_spec;
        f.store_float = false;
        conv2d_forward_int8_on(k, nullptr, own_input ? y.data() : nullptr, mpk, md, mep, f);
        CHECK(got_codes == want_codes);
      }
      fused.res_in_spec = ospec;  // codes of another quantization than the downsample's
      CHECK_THROWS_WITH(conv2d_forward_int8_on(k, mgot.data(), nullptr, mpk, md, mep, fused),
                        Catch::Contains("input codes it can read"));
    }
  };
  // A block's second convolution (3x3, stride 1, y's channels out) adding y through the codes made
  // for the block's first, as code * scale, equals it adding those values in fp32
  // (int8_fake_quantize), bit for bit; with its own output stored, or only as the next codes.
  auto check_residual_codes = [&](const std::vector<float>& y, const ConvDims& pd) {
    const int64_t C = pd.OC;
    const ConvDims cd = make_conv_dims(pd.N, C, pd.OH, pd.OW, C, 3, 3, 1, 1);
    const std::vector<float> cw = randn(9 * C * C, rng);
    const ConvInt8Weights c = pack_conv_int8(cw.data(), nullptr, 3, 3, C, C, 1.5f);  // y's codes saturate past 1.5
    Int8Chain chain;
    REQUIRE(int8_codes_spec(c, cd, &chain.out_spec));
    REQUIRE(int8_codes_hold_residual(chain.out_spec, cd.N, cd.OH, cd.OW, C));
    std::vector<uint8_t> codes((size_t)chain.out_spec.bytes() + kLowpCopySlack, 0);
    lowp_fill_padding(codes.data(), chain.out_spec.layout, cd.H, cd.W, (const uint8_t*)nullptr);
    for (int64_t n = 0; n < cd.N; ++n)
      for (int64_t h = 0; h < cd.H; ++h)
        for (int64_t w = 0; w < cd.W; ++w) {
          const int64_t i = ((n * cd.H + h) * cd.W + w) * C;
          k.quantize(codes.data() + chain.out_spec.layout.pixel(n, h, w) * C, y.data() + i, C, chain.out_spec.inv, 0);
        }
    std::vector<float> fake(y.size());
    int8_fake_quantize(fake.data(), y.data(), (int64_t)y.size(), chain.out_spec);
    ConvEpilogue ep;
    ep.relu = true;
    ep.residual = fake.data();
    std::vector<float> want(y.size()), got(y.size(), -1.0f);
    Int8Chain wchain;  // the same output's next codes (for c again), from the fp32 residual
    wchain.out_spec = chain.out_spec;
    std::vector<uint8_t> want_codes((size_t)chain.out_spec.bytes(), 0), got_codes(want_codes.size(), 0xAB);
    wchain.out = want_codes.data();
    conv2d_forward_int8_on(k, want.data(), y.data(), c, cd, ep, wchain);
    ep.residual = nullptr;
    chain.in = codes.data();
    chain.in_spec = chain.out_spec;
    chain.res = codes.data();
    chain.res_spec = chain.out_spec;
    conv2d_forward_int8_on(k, got.data(), nullptr, c, cd, ep, chain);
    CHECK(std::memcmp(got.data(), want.data(), sizeof(float) * got.size()) == 0);
    chain.out = got_codes.data();
    chain.store_float = false;
    conv2d_forward_int8_on(k, nullptr, nullptr, c, cd, ep, chain);
    CHECK(got_codes == want_codes);
    // Residual codes for an output of another size are refused.
    chain.res_spec.H += 1;
    CHECK_THROWS_WITH(conv2d_forward_int8_on(k, nullptr, nullptr, c, cd, ep, chain), Catch::Contains("residual codes"));
  };
  for (auto [H, W] : {std::pair{9, 11}, {10, 12}}) {
    const ConvDims pd = make_conv_dims(2, 8, H, W, 84, 3, 3, 1, 1);
    const std::vector<float> x = relu_randn(pd.N * pd.H * pd.W * pd.C, rng), w = randn(3 * 3 * 8 * 84, rng);
    const ConvInt8Weights pw = pack_conv_int8(w.data(), nullptr, 3, 3, 8, 84, 2.0f);
    REQUIRE(pw.nb == 2);
    ConvEpilogue pep;
    pep.relu = true;
    std::vector<float> y((size_t)(pd.N * pd.OH * pd.OW * pd.OC));
    conv2d_forward_int8_on(k, y.data(), x.data(), pw, pd, pep);
    for (auto [kk, stride, pad] : {std::tuple{3, 1, 1}, {3, 2, 1}, {1, 2, 0}})
      check_reader(x, pw, pd, pep, y, pd.OH, pd.OW, kk, stride, pad);
    check_residual_codes(y, pd);
    // The stem's max pool (3x3, stride 2) after the producer: the codes are the pool's output's.
    const PoolDims pool = make_pool_dims(pd.N, pd.OC, pd.OH, pd.OW, 3, 2, 1);
    pep.max_pool = &pool;
    std::vector<float> pooled((size_t)(pool.N * pool.OH * pool.OW * pool.C));
    conv2d_forward_int8_on(k, pooled.data(), x.data(), pw, pd, pep);
    check_reader(x, pw, pd, pep, pooled, pool.OH, pool.OW, 3, 1, 1);
  }
  std::printf(
      "int8 chains (%s): readers from their producers' codes equal readers from fp32, 3 reader shapes, a "
      "downsample reading another reader's codes, alone and fused, a pool, residual codes, 2 sizes\n",
      name);
}

// One SIMD instance of the int8 tiles against the twin, bit for bit: its quantizing passes (per
// tensor on halfway cases, saturation, negatives, NaN and inf; per channel on the image's
// quantization and at every phase of a channel pattern), the shared awkward shapes, the largest
// sums, the tile-row and channel-block shapes (tests/lowp_tile_cases.h) and the fused pool.
void check_vnni_tiles(const ConvInt8Kernels& k, const char* name) {
  {
    // The special values first, each in every lane of a vector (the vector loops take the
    // whole multiples of their width, quantize_u8 itself only the tail), then random ones.
    std::vector<float> v;
    const float inf = std::numeric_limits<float>::infinity();
    for (float f : {0.5f, 1.5f, 2.5f, 254.5f, 255.5f, 255.49f, -0.5f, 0.0f, -0.0f, 1e-40f, 3e38f, -3e38f, 2147483648.0f,
                    4294967296.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN()})
      for (int lane = 0; lane < 16; ++lane) v.push_back(f);
    Rng rng(4);
    for (int i = 0; i < 1000; ++i) v.push_back(rng.normal() * 200.0f);
    std::vector<uint8_t> fast(v.size());
    for (float z : {0.0f, 37.0f, 255.0f}) {  // zero points: none, conv1-like, the top code
      k.quantize(fast.data(), v.data(), (int64_t)v.size(), 1.0f, z);
      for (size_t i = 0; i < v.size(); ++i) REQUIRE(fast[i] == quantize_u8(v[i], 1.0f, z));
    }
  }
  // The image's quantization: each normalized pixel's code is the pixel itself.
  for (const auto& [mean, std] : kNorms) {
    const std::vector<float> x = every_pixel(mean, std), w(7 * 7 * 3 * 4, 0.5f);
    const ConvInt8Weights p = pack_conv_int8(w.data(), nullptr, 7, 7, 3, 4, Int8Input::image(mean, std));
    std::vector<uint8_t> q(x.size());
    k.quantize_channels(q.data(), x.data(), (int64_t)x.size(), p.inv_pattern.data(), p.zero_pattern.data(), 3);
    for (size_t i = 0; i < q.size(); ++i) REQUIRE(q[i] == i / 3);
  }
  Rng rng(5);
  // Per channel at every phase of a channel pattern: runs of any length, C small and large.
  for (int64_t C : {1, 3, 5, 8, 16, 17, 64}) {
    Int8Input in;
    for (int64_t ci = 0; ci < C; ++ci)
      in.scale.push_back(0.02f + 0.01f * (float)ci), in.zero.push_back(7.5f * (float)(ci % 30));
    std::vector<float> w((size_t)C * 16, 1.0f);
    const ConvInt8Weights p = pack_conv_int8(w.data(), nullptr, 1, 1, C, 16, in);
    for (int64_t n : {C, 16 * C + 5, 3 * C * 16 + C}) {
      const std::vector<float> v = randn(n, rng);
      std::vector<uint8_t> q((size_t)n);
      k.quantize_channels(q.data(), v.data(), n, p.inv_pattern.data(), p.zero_pattern.data(), C);
      INFO(name << " C=" << C << " n=" << n);
      for (int64_t i = 0; i < n; ++i)
        REQUIRE(q[(size_t)i] == quantize_u8(v[(size_t)i], p.in_inv[(size_t)(i % C)], p.zero[(size_t)(i % C)]));
    }
  }
  for (const Case& c : kCases)
    for (const bool is_signed : {false, true}) {  // signed: inputs of both signs, a zero point
      const ConvDims d = dims(c);
      auto [x, w, b, res, n_out] = test::operands(d, rng, !is_signed);
      const ConvInt8Weights p =
          pack_conv_int8(w.data(), nullptr, d.KH, d.KW, d.C, d.OC, 1.5f, is_signed ? -2.25f : 0.0f);
      CHECK(p.zero[0] == (is_signed ? 153.0f : 0.0f));  // round(2.25 * 255 / 3.75)
      const ConvEpilogue ep = test::epilogue(c, b, res);
      std::vector<float> y1((size_t)n_out, 7.f), y2((size_t)n_out, -7.f);
      conv2d_forward_int8_on(k, y1.data(), x.data(), p, d, ep);
      conv2d_forward_int8_ref(y2.data(), x.data(), p, d, ep);
      INFO(name << " N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC << " k=" << c.k
                << " s=" << c.stride << " p=" << c.pad << " signed " << is_signed);
      CHECK(std::memcmp(y1.data(), y2.data(), 4 * y1.size()) == 0);
    }
  // The largest sums: every input saturated (255) times weights of +-127, a 4608-long reduction
  // (255 * 127 * 4608 = 1.5e8, well inside int32; both sides round it to fp32 alike).
  const ConvDims d = make_conv_dims(1, 512, 5, 5, 32, 3, 3, 1, 1);
  std::vector<float> x((size_t)(d.N * d.H * d.W * d.C), 1e6f), w((size_t)(9 * 512 * 32));
  for (size_t i = 0; i < w.size(); ++i) w[i] = (i / 32) % 3 == 2 ? -1.0f : 1.0f;
  const ConvInt8Weights p = pack_conv_int8(w.data(), nullptr, 3, 3, 512, 32, 1.0f);
  std::vector<float> y1((size_t)(d.OH * d.OW * d.OC)), y2(y1.size());
  conv2d_forward_int8_on(k, y1.data(), x.data(), p, d);
  conv2d_forward_int8_ref(y2.data(), x.data(), p, d);
  CHECK(std::memcmp(y1.data(), y2.data(), 4 * y1.size()) == 0);
  // Centre pixel: 9 taps x 512 channels, a third of them -1: sum 255 * 127 * 1536.
  CHECK(y2[(size_t)((2 * 5 + 2) * 32)] == (float)(255 * 127 * 1536) * p.out_scale[0]);
  std::printf("conv2d_forward_int8 (%s) equals ref bit for bit on %zu shapes\n", name, std::size(kCases));
  test::check_int8_tiles(k, name);
  check_int8_pool_fusion(k, name);
  check_int8_chains(k, name);
}

}  // namespace

TEST_CASE("the AVX512-VNNI int8 convolution equals its reference twin bit for bit") {
  if (test::kernels_run(has_avx512_vnni_kernels(), "AVX512-VNNI"))
    check_vnni_tiles(conv_int8_kernels_avx512vnni(), "avx512_vnni");
}

// Tagged: ctest runs it as a test of its own (test_int8_avx_vnni), skipped where the CPU lacks
// AVX-VNNI, as test_int8 is where it lacks AVX512-VNNI.
TEST_CASE("the AVX-VNNI int8 convolution equals its reference twin bit for bit", "[avx_vnni]") {
  if (test::kernels_run(has_avx_vnni_kernels(), "AVX-VNNI", "avx2"))
    check_vnni_tiles(conv_int8_kernels_avxvnni(), "avx_vnni");
}

// Thread-count independence and the dispatch below the VNNI paths, bit for bit; capped at avx2,
// the AVX-VNNI tiles where the CPU has them.
TEST_CASE("the int8 dispatch: the same bits on 1 and 2 threads, on AVX-VNNI at avx2, on the twin at scalar") {
  if (!vnni_available()) return;
  Rng rng(6);
  const ConvDims d = dims(kCases[10]);
  auto x = relu_randn(d.N * d.H * d.W * d.C, rng), w = randn(d.KH * d.KW * d.C * d.OC, rng);
  const ConvInt8Weights p = pack_conv_int8(w.data(), nullptr, d.KH, d.KW, d.C, d.OC, 2.0f);
  auto run = [&](float* y) { conv2d_forward_int8(y, x.data(), p, d); };
  auto ref = [&](float* y) { conv2d_forward_int8_ref(y, x.data(), p, d); };
  test::check_threads_and_dispatch((size_t)(d.N * d.OH * d.OW * d.OC), run, ref, has_vnni_kernels, Isa::scalar);
  if (cpu_extensions().avx_vnni) {
    const size_t n = (size_t)(d.N * d.OH * d.OW * d.OC);
    std::vector<float> y1(n), y2(n);
    const Isa isa = cpu_isa();
    force_isa(Isa::avx2);
    CHECK(has_vnni_kernels());
    CHECK(!has_avx512_vnni_kernels());
    run(y1.data());
    force_isa(isa);
    ref(y2.data());
    CHECK(y1 == y2);
  }
}

// The AMX-INT8 tile's logic on emulated tile registers, bit for bit against the twin. The
// hardware instance is tests/test_amx.cpp's (run only where the CPU has AMX-INT8).
TEST_CASE("the AMX-INT8 convolution on emulated tiles equals its reference twin bit for bit") {
  // The emulated registers are AVX-512 code: AVX-VNNI alone does not run them.
  if (!test::kernels_run(has_avx512_vnni_kernels(), "AVX512-VNNI")) return;
  test::check_int8_tiles(conv_int8_kernels_amx_emulated(), "AMX-INT8 tiles, emulated");
  check_int8_pool_fusion(conv_int8_kernels_amx_emulated(), "AMX-INT8 tiles, emulated");
  check_int8_chains(conv_int8_kernels_amx_emulated(), "AMX-INT8 tiles, emulated");
}

TEST_CASE("the int8 reference twin pools as maxpool2d_forward after it") {
  test::check_pool_fusion(
      "int8 reference twin", [&](float* out, const std::vector<float>& x, const std::vector<float>& w,
                                 const ConvDims& d, const ConvEpilogue& ep) {
        const ConvInt8Weights p = pack_conv_int8(w.data(), nullptr, d.KH, d.KW, d.C, d.OC, 2.5f, -2.5f);
        conv2d_forward_int8_ref(out, x.data(), p, d, ep);
      });
}

TEST_CASE("the image's quantization: each normalized 8-bit pixel's code is the pixel itself") {
  for (const auto& [mean, std] : kNorms) {
    const Int8Input in = Int8Input::image(mean, std);
    const std::vector<float> x = every_pixel(mean, std);
    for (int v = 0; v < 256; ++v)
      for (int c = 0; c < 3; ++c)
        REQUIRE(quantize_u8(x[(size_t)(3 * v + c)], 1.0f / in.scale[(size_t)c], in.zero[(size_t)c]) == v);
    const std::vector<float> w(7 * 7 * 3 * 4, 0.5f);
    const ConvInt8Weights p = pack_conv_int8(w.data(), nullptr, 7, 7, 3, 4, in);
    CHECK(!p.uniform);  // the vector passes: check_vnni_tiles
  }
}

TEST_CASE("conv1 at int8 on images: the image's quantization loses nothing on the input, a range does") {
  // The fixture's 8-bit images, channels last, through ResNet-18's conv1 shape (7x7, stride 2,
  // padding 3) with random weights: at int8 as the image, the result is the fp32 convolution of
  // the exact input with the int8 weights (padding included); over the images' range, the input's
  // rounding adds error on top.
  auto [model, x] = test::agreement_fixture(2, 4);
  const int64_t N = 4, P = 64, OC = 64;
  std::vector<float> xl((size_t)(N * P * P * 3));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < P * P; ++i) xl[(size_t)((n * P * P + i) * 3 + c)] = x[(n * 3 + c) * P * P + i];
  const ConvDims d = make_conv_dims(N, 3, P, P, OC, 7, 7, 2, 3);
  Rng rng(8);
  const std::vector<float> w = randn(7 * 7 * 3 * OC, rng);
  const Int8Input image =
      Int8Input::image({model.mean.begin(), model.mean.end()}, {model.std.begin(), model.std.end()});
  const ConvInt8Weights pi = pack_conv_int8(w.data(), nullptr, 7, 7, 3, OC, image);
  CHECK(!pi.exact_padding);  // ImageNet's 255 * mean is fractional
  const auto [lo, hi] = std::minmax_element(xl.begin(), xl.end());
  const ConvInt8Weights pr = pack_conv_int8(w.data(), nullptr, 7, 7, 3, OC, *hi, *lo);
  const size_t n_out = (size_t)(N * d.OH * d.OW * OC);
  std::vector<float> y32(n_out), y_image(n_out), y_range(n_out), y_wq(n_out);
  conv2d_forward_ref(y32.data(), xl.data(), w.data(), d);
  conv2d_forward_int8(y_image.data(), xl.data(), pi, d);
  conv2d_forward_int8(y_range.data(), xl.data(), pr, d);
  // The int8 weights dequantized, convolved in fp32 with the exact input.
  conv2d_forward_ref(y_wq.data(), xl.data(), dequantized_weights(pi, &image.scale).data(), d);
  double m = 1, se_image = 0, se_range = 0;
  for (size_t i = 0; i < n_out; ++i) {
    m = std::max(m, (double)std::fabs(y32[i]));
    se_image += std::pow(y_image[i] - y32[i], 2);
    se_range += std::pow(y_range[i] - y32[i], 2);
  }
  std::printf(
      "conv1 int8 on images, rms error against fp32: as the image %.4g, over the range %.4g (outputs up to %.3g)\n",
      std::sqrt(se_image / (double)n_out), std::sqrt(se_range / (double)n_out), m);
  CHECK(rel_error(y_image, y_wq) < 1e-5);
  CHECK(se_image < 0.8 * se_range);
}

TEST_CASE("int8 with a scale and zero point per input channel: the twin, the tiles") {
  Rng rng(6);
  for (const Case& c : kCases) {
    const ConvDims d = dims(c);
    if (d.C * d.KH * d.KW * d.OC > 200000) continue;  // the direct loops are slow
    auto [x, w, b, res, n_out] = test::operands(d, rng);
    // Scales a factor of 4 apart, zero points fractional (as an image's 255 * mean) and whole.
    Int8Input in;
    for (int64_t ci = 0; ci < d.C; ++ci) {
      in.scale.push_back(0.01f * (1.0f + (float)(ci % 4)));
      in.zero.push_back(ci % 2 ? 100.0f + 0.37f * (float)(ci % 3) : 128.0f);
    }
    const ConvInt8Weights p = pack_conv_int8(w.data(), nullptr, d.KH, d.KW, d.C, d.OC, in);
    CHECK(p.uniform == (d.C == 1));
    // Dequantized: (q_x - z_c) s_c, weights q_w s_w s / s_c; padding exactly 0.0 (the padding
    // code round(z_c) is off z_c in the fractional channels: int8_edge_bias takes that back out).
    CHECK(!p.exact_padding);
    std::vector<float> xq(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const size_t ci = i % (size_t)d.C;
      xq[i] = ((float)quantize_u8(x[i], p.in_inv[ci], p.zero[ci]) - in.zero[ci]) * in.scale[ci];
    }
    const std::vector<float> wq = dequantized_weights(p, &in.scale);
    const ConvEpilogue ep = test::epilogue(c, b, res);
    std::vector<float> y1((size_t)n_out, 7.f), y2((size_t)n_out, -7.f), y3((size_t)n_out, 3.f);
    conv2d_forward_int8_ref(y1.data(), x.data(), p, d, ep);
    conv2d_forward_ref(y2.data(), xq.data(), wq.data(), d, ep);
    INFO("C=" << c.C << " OC=" << c.OC << " k=" << c.k << " s=" << c.stride << " p=" << c.pad);
    CHECK(rel_error(y1, y2) < 1e-5);
    if (!has_vnni_kernels()) continue;
    conv2d_forward_int8(y3.data(), x.data(), p, d, ep);
    CHECK(std::memcmp(y1.data(), y3.data(), 4 * y1.size()) == 0);
  }
}

TEST_CASE("calibration: conv1 as the image, ranges of the others, refused without them, carried by the model file") {
  auto [model, x] = test::agreement_fixture(2, 64);
  Tensor calib = Tensor::from_data(Shape{16, 3, 64, 64}, x.data());
  CHECK(!is_calibrated(model));
  CHECK_THROWS_AS(set_model_precision(model, Precision::int8, "m.safetensors"), InputError);
  CHECK_THROWS_AS(predict_probabilities(model, calib, Precision::int8), InputError);
  begin_calibration(model);
  calibrate_batch(model, calib);
  const std::vector<Conv2d*> convs = model.net->convs();
  CHECK(finish_calibration(model) == (int)convs.size());
  // conv1: the normalized image, its codes the pixels (from the model's mean and std), its range
  // the whole image range, wider than the calibration windows'.
  CHECK(convs[0]->calib_lo < 0);
  CHECK(convs[0]->int8_image_mean == std::vector<float>(model.mean.begin(), model.mean.end()));
  CHECK(convs[0]->int8_image_std == std::vector<float>(model.std.begin(), model.std.end()));
  CHECK(convs[0]->int8_act_min <= convs[0]->calib_lo);
  CHECK(convs[0]->int8_act_max >= convs[0]->calib_hi);
  for (size_t i = 1; i < convs.size(); ++i) {
    CHECK(convs[i]->int8_image_mean.empty());
    CHECK(convs[i]->calib_lo == 0);  // post-ReLU
    CHECK(convs[i]->int8_act_min == 0);
    CHECK(convs[i]->int8_act_max > 0);
    CHECK(convs[i]->int8_act_max <= convs[i]->calib_hi);
  }
  set_model_precision(model, Precision::int8);
  CHECK(model.precision == Precision::int8);
  const Tensor few = Tensor::from_data(Shape{2, 3, 64, 64}, x.data());  // (the twin is slow without VNNI)
  const Tensor p8 = predict_probabilities(model, few);                  // at the model's precision

  const std::string path = (std::filesystem::temp_directory_path() / "ds_test_int8.safetensors").string();
  save_model(path, model, {{"note", "kept"}});
  std::map<std::string, std::string> meta;
  Model back = load_model(path, &meta);
  CHECK(meta.count(kInt8MetadataKey) == 1);
  CHECK(extra_metadata(meta) == std::map<std::string, std::string>{{"note", "kept"}});
  const std::vector<Conv2d*> bc = back.net->convs();
  for (size_t i = 0; i < convs.size(); ++i) {
    CHECK(bc[i]->int8_act_max == convs[i]->int8_act_max);
    CHECK(bc[i]->int8_act_min == convs[i]->int8_act_min);
    CHECK(bc[i]->int8_image_mean == convs[i]->int8_image_mean);
    CHECK(bc[i]->int8_image_std == convs[i]->int8_image_std);
  }
  CHECK(meta[kInt8MetadataKey].find(R"("conv1":"image")") != std::string::npos);
  const Tensor p8b = predict_probabilities(back, few, Precision::int8);
  for (int64_t i = 0; i < p8.numel(); ++i) REQUIRE(p8[i] == p8b[i]);
  std::filesystem::remove(path);

  // Bad metadata values name the file.
  CHECK_THROWS_WITH(apply_int8_metadata("f.st", back, "[1]"), Catch::Contains("f.st"));
  CHECK_THROWS_WITH(apply_int8_metadata("f.st", back, R"({"layer9.0.conv1": 1})"), Catch::Contains("layer9.0.conv1"));
  CHECK_THROWS_WITH(apply_int8_metadata("f.st", back, R"({"conv1": -1})"), Catch::Contains("finite number"));
  CHECK_THROWS_WITH(apply_int8_metadata("f.st", back, R"({"conv1": "x"})"), Catch::Contains("finite number"));
  CHECK_THROWS_WITH(apply_int8_metadata("f.st", back, R"({"layer1.0.conv1": "image"})"),
                    Catch::Contains("only the first convolution takes the image"));
  CHECK_THROWS_WITH(apply_int8_metadata("f.st", back, R"({"conv1": 1e39})"), Catch::Contains("finite number"));
  // Ranges 8 bits cannot step: a width that overflows a float, or a denormal one (inf or NaN codes).
  for (const char* bad :
       {R"({"conv1": [-3e38, 3e38]})", R"({"conv1": [-1e-40, 1e-40]})", R"({"layer1.0.conv1": 1e-44})"})
    CHECK_THROWS_WITH(apply_int8_metadata("f.st", back, bad), Catch::Contains("255 / width finite"));
  // Nested past the JSON bound (the parser recurses per level), or a huge value: refused, the
  // message one short line.
  const std::string deep = "{\"conv1\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK_THROWS_WITH(apply_int8_metadata("f.st", back, deep), Catch::Contains("nested deeper"));
  std::string huge = "{\"conv1\":[1";
  for (int i = 0; i < 100000; ++i) huge += ",1";
  huge += "]}";
  try {
    apply_int8_metadata("f.st", back, huge);
    FAIL("a 100001-element range accepted");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).size() < 400);
  }
  for (const char* bad : {R"({"conv1": [1, 2]})", R"({"conv1": [-1, 0]})", R"({"conv1": [-1]})",
                          R"({"conv1": [-1, 2, 3]})", R"({"conv1": [-1e39, 2]})", R"({"conv1": ["-1", 2]})"})
    CHECK_THROWS_WITH(apply_int8_metadata("f.st", back, bad), Catch::Contains("pair [min < 0, max > 0]"));
  // An older file without conv1's range: conv1 stays fp32, the others run int8.
  apply_int8_metadata("f.st", back, R"({"layer1.0.conv1": 2.5})");
  CHECK(back.net->convs()[0]->int8_act_max == 0);
  CHECK(back.net->convs()[1]->int8_act_max == 2.5f);
  // An older file with conv1's range: quantized per tensor over it, as when it was made.
  apply_int8_metadata("f.st", back, R"({"conv1": [-2.5, 3.0]})");
  CHECK(back.net->convs()[0]->int8_act_min == -2.5f);
  CHECK(back.net->convs()[0]->int8_image_mean.empty());
  CHECK(predict_probabilities(back, few, Precision::int8).numel() == few.size(0) * 2);
  // A normalization whose mean is outside 0..1 cannot make pixels codes: conv1 falls back to
  // its calibrated range, and a file claiming "image" for such a model is refused.
  model.mean[1] = 1.5f;
  CHECK(finish_calibration(model) == (int)convs.size());
  CHECK(convs[0]->int8_image_mean.empty());
  CHECK(convs[0]->int8_act_min == convs[0]->calib_lo);
  CHECK(convs[0]->int8_act_max == convs[0]->calib_hi);
  back.mean[1] = 1.5f;
  CHECK_THROWS_WITH(apply_int8_metadata("f.st", back, R"({"conv1": "image"})"),
                    Catch::Contains("cannot map pixels to codes"));
}

// Calibrated on 64 patches, evaluated on 256 others. The brief of issue 20 asks for >= 99.5%
// argmax agreement and probabilities within 0.05 on trained weights; none are available offline,
// and on this untrained fixture (tests/agreement_model.h, which also gives bf16 only 99.2% and
// 95.7% within 0.08) measured int8 reaches 96.9% within 0.23 (2 classes) and 85.9% within 0.17
// (10 classes; with conv1 quantized over its calibrated range instead of as the image: 96.5%
// within 0.26 and 86.7% within 0.21): an untrained ResNet amplifies each layer's ~1% quantization
// noise.
// tests/test_int8_torch_oracle.py compares the loss with PyTorch's own int8 on the same weights.
// The limits below hold the figures with a little room, so they catch a broken path (a wrong
// scale or a misplaced residual drops agreement to chance) but do not show the brief's target:
// that needs a trained model (BENCHMARKS.md, "int8 inference"). The fixture's head is fitted to
// this CPU's fp32 features, so the figures move with the fp32 kernels' summation order: on the
// Intel Xeon (model 207) 97.3% within 0.258 and 89.1% within 0.178. Since the blocks add their
// identity through its 8-bit codes (int8_identity), there 95.7% within 0.456 and 90.6% within
// 0.195: the untrained network's residual stream carries most of its signal, and it now carries
// the codes' rounding too (on the trained demo model and the torchvision-weights oracle the
// agreement did not drop: BENCHMARKS.md).
TEST_CASE("ResNet-18 at int8 agrees with fp32 on untrained weights, 2 and 10 classes") {
  if (!vnni_available()) return;
  for (int K : {2, 10}) {
    auto [model, x] = test::agreement_fixture(K, 320);
    const int64_t per = x.numel() / 320;
    begin_calibration(model);
    calibrate_batch(model, Tensor::from_data(Shape{64, 3, 64, 64}, x.data() + 256 * per));
    finish_calibration(model);
    const Tensor xe = Tensor::from_data(Shape{256, 3, 64, 64}, x.data());
    const Tensor p32 = predict_probabilities(model, xe, Precision::fp32);
    const Tensor p8 = predict_probabilities(model, xe, Precision::int8);
    const test::Agreement a = test::agreement(p32, p8, K);
    std::printf("resnet18 int8 vs fp32, %d classes, 256 patches: argmax agreement %.2f%%, max |prob diff| %.4f\n", K,
                100.0 * a.agree, a.max_diff);
    CHECK(a.classes_hit == K);
    CHECK(a.agree >= (K == 2 ? 0.94 : 0.85));
    CHECK(a.max_diff <= 0.6);
  }
}

// The network's logits at int8 on x, chained or not (Context::int8_chains).
static Tensor int8_logits(Model& model, const Tensor& x, bool chains) {
  Context ctx;
  ctx.precision = Precision::int8;
  ctx.int8_chains = chains;
  return model.net->forward(ctx, make_var(x))->value;
}

// Chains (conv_bn_eval's ConvNext, Int8Chain): each convolution's epilogue writes the next one's
// input codes, and a block's first convolution stores no fp32 output at all. The codes are the
// bytes the reader's own pass makes, so the logits equal the unchained network's bit for bit, on
// ResNet-18's basic blocks and ResNet-50's bottlenecks, at odd sizes (padding rows the stride-2
// convolutions do not read).
TEST_CASE("int8 chains: the network's logits equal the unchained network's bit for bit") {
  if (!vnni_available()) return;
  REQUIRE(int8_chains_supported());
  for (Arch arch : {Arch::resnet18, Arch::resnet50}) {
    Rng rng(31);
    Model model = make_model(arch, {"a", "b", "c"}, 5, 48);
    const Tensor calib = Tensor::from_vector(Shape{4, 3, 45, 51}, randn(4 * 3 * 45 * 51, rng));
    begin_calibration(model);
    calibrate_batch(model, calib);
    REQUIRE(finish_calibration(model) == (int)model.net->convs().size());
    const Tensor x = Tensor::from_vector(Shape{3, 3, 45, 51}, randn(3 * 3 * 45 * 51, rng));
    auto logits = [&](bool chains) { return int8_logits(model, x, chains); };
    std::vector<ConvAlgoUse> log;
    set_conv_algo_log(&log);
    const int64_t reads0 = int8_chain_reads(), res0 = int8_residual_code_reads(), fused0 = int8_fused_downsamples();
    const Tensor chained = logits(true);
    const int64_t reads1 = int8_chain_reads(), res1 = int8_residual_code_reads(), fused1 = int8_fused_downsamples();
    set_conv_algo_log(nullptr);
    const Tensor plain = logits(false);
    CHECK(int8_chain_reads() == reads1);  // unchained: no codes read, no downsample fused
    CHECK(int8_residual_code_reads() == res1);
    CHECK(int8_fused_downsamples() == fused1);
    // Every downsample (3 in ResNet-18, 4 in ResNet-50) runs inside its block's last convolution.
    CHECK(fused1 - fused0 == (arch == Arch::resnet18 ? 3 : 4));
    CHECK(log.size() == model.net->convs().size());  // the fused downsamples are logged too
    // Every convolution reads codes but conv1 (the image): the downsamples read the ones made for
    // their block's conv1 (stride 2: the taps they hold). Every block without a downsample (5 of
    // ResNet-18's 8, 12 of ResNet-50's 16) adds its identity from them.
    CHECK(reads1 - reads0 == (arch == Arch::resnet18 ? 20 - 1 : 53 - 1));
    CHECK(res1 - res0 == (arch == Arch::resnet18 ? 5 : 12));
    REQUIRE(chained.numel() == plain.numel());
    CHECK(std::memcmp(chained.data(), plain.data(), sizeof(float) * (size_t)plain.numel()) == 0);
    CHECK(std::all_of(log.begin(), log.end(), [](const ConvAlgoUse& u) { return u.algo == "int8"; }));
    std::printf("%s int8 chained == unchained bit for bit (%zu convolutions)\n", arch_name(arch).c_str(), log.size());
  }
}

// Some convolutions left at fp32 inside the int8 network (a model file whose metadata omits
// them): the chains stop at them, a codes-only identity reaches an fp32 convolution as the values
// it stands for, or an int8 one with no input or output codes; still equal to the unchained
// network bit for bit.
TEST_CASE("int8 chains with some convolutions at fp32 equal the unchained network bit for bit") {
  if (!vnni_available()) return;
  for (Arch arch : {Arch::resnet18, Arch::resnet50}) {
    Rng rng(41);
    Model model = make_model(arch, {"a", "b"}, 5, 48);
    const Tensor calib = Tensor::from_vector(Shape{2, 3, 40, 44}, randn(2 * 3 * 40 * 44, rng));
    begin_calibration(model);
    calibrate_batch(model, calib);
    finish_calibration(model);
    const std::vector<Conv2d*> convs = model.net->convs();
    // ResNet-18: layer2.1.conv2 (reads conv1's codes; an identity of codes into fp32) and
    // layer3.0.downsample (block 0's output then stays fp32 for it). ResNet-50: the last block's
    // conv2 (its conv3, the network's last, then has neither input nor output codes),
    // layer2.1.conv1, and layer2.0.conv2 (its conv3 quantizes its own input, with the downsample
    // fused). (ResNet-18's layer2.0.conv2 too, which then adds the downsample's stored output;
    // layer3.0.downsample is ResNet-50's too.)
    for (Conv2d* c : convs) {
      const std::string& n = c->weight.name;
      if (n == "layer2.1.conv2.weight" || n == "layer3.0.downsample.0.weight" || n == "layer4.2.conv2.weight" ||
          n == "layer2.1.conv1.weight" || n == "layer2.0.conv2.weight")
        c->int8_act_max = 0;
    }
    const Tensor x = Tensor::from_vector(Shape{2, 3, 40, 44}, randn(2 * 3 * 40 * 44, rng));
    auto logits = [&](bool chains) { return int8_logits(model, x, chains); };
    const int64_t res0 = int8_residual_code_reads(), fused0 = int8_fused_downsamples();
    const Tensor chained = logits(true);
    CHECK(int8_residual_code_reads() > res0);
    // The downsamples at int8 whose block's last convolution is too still run fused: ResNet-18's
    // layer4.0, ResNet-50's layer1.0, layer2.0 and layer4.0.
    CHECK(int8_fused_downsamples() - fused0 == (arch == Arch::resnet18 ? 1 : 3));
    const Tensor plain = logits(false);
    REQUIRE(chained.numel() == plain.numel());
    CHECK(std::memcmp(chained.data(), plain.data(), sizeof(float) * (size_t)plain.numel()) == 0);
  }
}

// The layers' side: conv_bn_eval told its output's reader writes no fp32 value, only the codes,
// and the reader given them equals the reader given the fp32 output.
TEST_CASE("int8 chains in conv_bn_eval: a value-less output read through its codes") {
  if (!vnni_available()) return;
  Rng rng(78);
  Conv2d a("a", 16, 32, 3, 1, 1, false), b("b", 32, 32, 3, 2, 1, false);
  BatchNorm2d abn("abn", 32), bbn("bbn", 32);
  for (Conv2d* c : {&a, &b}) {
    const std::vector<float> v = randn(c->weight.value.numel(), rng);
    std::copy(v.begin(), v.end(), c->weight.value.data());
  }
  a.int8_act_max = 2.5f, b.int8_act_max = 4.0f;
  Context ctx;
  ctx.precision = Precision::int8;
  const VarPtr x = make_var(Tensor::from_vector(Shape{2, 7, 9, 16}, relu_randn(2 * 7 * 9 * 16, rng)));
  const VarPtr chained = conv_bn_eval(ctx, a, abn, x, nullptr, true, {&b, &bbn, false});
  CHECK(!chained->value.defined());
  REQUIRE(chained->int8_codes);
  const VarPtr plain = conv_bn_eval(ctx, a, abn, x, nullptr, true);
  const Tensor got = conv_bn_eval(ctx, b, bbn, chained, nullptr, true)->value;
  const Tensor want = conv_bn_eval(ctx, b, bbn, plain, nullptr, true)->value;
  REQUIRE(got.numel() == want.numel());
  CHECK(std::memcmp(got.data(), want.data(), sizeof(float) * (size_t)got.numel()) == 0);
  // Codes made for another reader are not read: without a value that is an internal error.
  Conv2d other("other", 32, 8, 1, 1, 0, false);
  BatchNorm2d obn("obn", 8);
  other.int8_act_max = 1.0f;
  CHECK_THROWS_WITH(conv_bn_eval(ctx, other, obn, chained, nullptr, true), Catch::Contains("another convolution"));
}
