// Cache detection against Linux's sysfs, the derived convolution blocking (today's constants on
// Zen 5's caches), results under forced blockings (bit-identical where the summation order does
// not change, within 1e-5 where it does), and the tuning file's reader (round trip, every kind
// of untrusted file refused with its name and reason).
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "conv_cases.h"
#include "engine/cpu_caches.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/conv_blocking.h"
#include "engine/kernels/conv_tuning.h"
#include "isa_paths.h"
#include "tests/scratch_dir.h"

using namespace ds;

namespace {

void write(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text << "\n";
}

using test::randn;
using test::rel_err;

// The three passes of one convolution (forward with the full epilogue, backward passes
// accumulating into non-zero outputs) under the current blocking.
struct Passes {
  std::vector<float> y, dx, dw;
};
Passes run_passes(const ConvDims& d, uint64_t seed) {
  Rng rng(seed);
  const int64_t n_in = d.N * d.H * d.W * d.C, n_out = d.N * d.OH * d.OW * d.OC, n_w = d.KH * d.KW * d.C * d.OC;
  const auto x = randn(n_in, rng), w = randn(n_w, rng), dy = randn(n_out, rng), res = randn(n_out, rng);
  const auto bias = randn(d.OC, rng);
  std::vector<float> scale((size_t)d.OC, 0.75f);
  Passes p{std::vector<float>((size_t)n_out), randn(n_in, rng), randn(n_w, rng)};
  conv2d_forward(p.y.data(), x.data(), w.data(), d,
                 ConvEpilogue{.weight_scale = scale.data(), .bias = bias.data(), .residual = res.data(), .relu = true});
  conv2d_backward_data(p.dx.data(), dy.data(), w.data(), d);
  conv2d_backward_weights(p.dw.data(), nullptr, dy.data(), x.data(), d);
  return p;
}

// Shapes that cross every blocking decision: conv1's packed taps, padded 3x3 run tapwise, wide
// reductions cut into several chunks, stride 2 phases, 512+ channels spaced apart, 1x1.
const ConvDims kShapes[] = {
    make_conv_dims(2, 3, 23, 21, 64, 7, 7, 2, 3),  make_conv_dims(2, 64, 12, 11, 64, 3, 3, 1, 1),
    make_conv_dims(1, 300, 7, 6, 180, 3, 3, 1, 1), make_conv_dims(2, 130, 9, 9, 70, 3, 3, 2, 1),
    make_conv_dims(1, 40, 6, 5, 520, 3, 3, 2, 1),  make_conv_dims(2, 96, 8, 8, 136, 1, 1, 2, 0),
    make_conv_dims(1, 1400, 4, 4, 20, 3, 3, 1, 1),
};

// Each shape's passes under `base` and then under each of `others`: check(ref, result, blocking).
template <class Check>
void compare_blockings(const ConvBlocking& base, const std::vector<ConvBlocking>& others, uint64_t seed, Check check) {
  for (const ConvDims& d : kShapes) {
    set_conv_blocking_override(&base);
    const Passes ref = run_passes(d, seed);
    for (const ConvBlocking& b : others) {
      set_conv_blocking_override(&b);
      INFO("C=" << d.C << " OC=" << d.OC << " k=" << d.KH << " s=" << d.stride_h << " chunk_k=" << b.chunk_k
                << " group_bytes=" << b.group_bytes << " wgrad_chunk_bytes=" << b.wgrad_chunk_bytes
                << " wgrad_part_bytes=" << b.wgrad_part_bytes << " wgrad_vectors=" << b.wgrad_vectors);
      check(ref, run_passes(d, seed));
    }
  }
  set_conv_blocking_override(nullptr);
}

}  // namespace

TEST_CASE("cache sizes parse from sysfs's text and agree with CPUID on this machine") {
  CHECK(parse_cache_size("32K") == 32 << 10);
  CHECK(parse_cache_size("32768K\n") == 32 << 20);
  CHECK(parse_cache_size("1M") == 1 << 20);
  CHECK(parse_cache_size("4096") == 4096);
  CHECK(parse_cache_size("") == -1);
  CHECK(parse_cache_size("K") == -1);
  CHECK(parse_cache_size("12Q") == -1);
  CHECK(parse_cache_size("99999999999999999999K") == -1);

  // A made-up sysfs folder: 2 threads per core, an L3 shared by 16 threads (8 cores).
  const auto dir = test::scratch_dir("sysfs_cache");
  const char* idx[][4] = {{"1", "Data", "48K", "0,64"},
                          {"1", "Instruction", "32K", "0,64"},
                          {"2", "Unified", "2048K", "0,64"},
                          {"3", "Unified", "32768K", "0-7,64-71"}};
  for (int i = 0; i < 4; ++i) {
    const auto d = dir / ("index" + std::to_string(i));
    std::filesystem::create_directories(d);
    write((d / "level").string(), idx[i][0]);
    write((d / "type").string(), idx[i][1]);
    write((d / "size").string(), idx[i][2]);
    write((d / "shared_cpu_list").string(), idx[i][3]);
  }
  const CpuCaches fake = caches_from_sysfs(dir.string());
  CHECK(fake.l1d == 48 << 10);
  CHECK(fake.l2 == 2 << 20);
  CHECK(fake.l3 == 32 << 20);
  CHECK(fake.l3_sharing == 16);
  CHECK(fake.l3_per_core == 4 << 20);
  CHECK(caches_from_sysfs((dir / "missing").string()).l2 == 0);

  const std::string sys = "/sys/devices/system/cpu/cpu0/cache";
  const CpuCaches s = caches_from_sysfs(sys), c = caches_from_cpuid();
  if (s.l2 <= 0) {
    std::printf("not run: no %s on this machine\n", sys.c_str());
    return;
  }
  INFO("sysfs " << s.l1d << " " << s.l2 << " " << s.l3 << ", cpuid " << c.l1d << " " << c.l2 << " " << c.l3);
  CHECK(c.l1d == s.l1d);
  CHECK(c.l2 == s.l2);
  CHECK(c.l3 == s.l3);
  std::printf("caches: L1d %lld KB, L2 %lld KB, L3 %lld KB (%lld KB per core), %s\n", (long long)c.l1d >> 10,
              (long long)c.l2 >> 10, (long long)c.l3 >> 10, (long long)cpu_caches().l3_per_core >> 10,
              cpu_identity().brand.c_str());
}

TEST_CASE("the derived blocking gives the Zen 5 constants on Zen 5's caches and scales with L2") {
  CpuCaches zen5;
  zen5.l1d = 48 << 10, zen5.l2 = 1 << 20, zen5.l3 = 32 << 20;
  CpuIdentity amd, intel;
  amd.vendor = "AuthenticAMD", intel.vendor = "GenuineIntel";
  const ConvBlocking b = derive_conv_blocking(zen5, amd, Isa::avx512);
  CHECK(b == ConvBlocking{1152, 192 << 10, 640 << 10, 768 << 10, 512 << 10, 768 << 10, 0});
  CpuCaches zen3 = zen5;
  zen3.l1d = 32 << 10, zen3.l2 = 512 << 10;
  CHECK(derive_conv_blocking(zen3, amd, Isa::avx2) ==
        ConvBlocking{576, 96 << 10, 320 << 10, 384 << 10, 256 << 10, 384 << 10, 0});
  CpuCaches sapphire = zen5;
  sapphire.l2 = 2 << 20;
  CHECK(derive_conv_blocking(sapphire, intel, Isa::avx512).chunk_k == 2304);
  CpuCaches tiny = zen5;
  tiny.l2 = 0;
  CHECK(derive_conv_blocking(tiny, amd, Isa::avx512).chunk_k >= 64);
  // The weight-gradient tiles: 4 vectors wide on Intel's AVX-512 path only (an AVX2 tile of 4
  // vectors would hold 2 rows).
  CHECK(derive_conv_blocking(sapphire, intel, Isa::avx512).wgrad_vectors == 4);
  CHECK(derive_conv_blocking(sapphire, intel, Isa::avx2).wgrad_vectors == 0);
  CHECK(derive_conv_blocking(sapphire, amd, Isa::avx512).wgrad_vectors == 0);

  CHECK(conv_shape_class(make_conv_dims(16, 64, 56, 56, 128, 3, 3, 2, 1), ConvPass::backward_weights) ==
        "bwd_weights/k3x3/s2/c64/oc128");
  const ConvBlocking p = parse_conv_blocking("chunk_k=100,wgrad_part_bytes=0", b, "test");
  CHECK(p.chunk_k == 100);
  CHECK(p.wgrad_part_bytes == 0);
  CHECK(p.group_bytes == b.group_bytes);
  CHECK_THROWS_AS(parse_conv_blocking("chunk=100", b, "test"), InputError);
  CHECK_THROWS_AS(parse_conv_blocking("chunk_k=-1", b, "test"), InputError);
  CHECK_THROWS_AS(parse_conv_blocking("chunk_k=1x", b, "test"), InputError);
  CHECK_THROWS_AS(parse_conv_blocking("group_bytes", b, "test"), InputError);
  CHECK(parse_conv_blocking("wgrad_vectors=3", b, "test").wgrad_vectors == 3);
  CHECK_THROWS_AS(parse_conv_blocking("wgrad_vectors=5", b, "test"), InputError);
  try {  // a huge setting still gives a one-line error of bounded length
    parse_conv_blocking(std::string(100000, 'a') + "=1", b, "test");
    FAIL("accepted a 100000-character key");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).size() < 200);
  }
  CHECK(parse_conv_blocking("tiny", b, "test").wgrad_vectors == 1);
  CHECK(parse_conv_blocking("huge", b, "test").wgrad_vectors == 4);
}

TEST_CASE("convolution results are bit-identical under any blocking that keeps the summation order") {
  const ConvBlocking base = derived_conv_blocking();
  // Groups, superblocks and pixel chunks as small and as large as the code allows, and between.
  std::vector<ConvBlocking> same_order;
  for (int64_t v : {int64_t(1), int64_t(5000), int64_t(1) << 40}) {
    ConvBlocking b = base;
    b.group_bytes = b.super_weight_bytes = b.wgrad_super_bytes = b.wgrad_chunk_bytes = v;
    same_order.push_back(b);
  }
  ConvBlocking mixed = base;
  mixed.group_bytes = 1, mixed.wgrad_chunk_bytes = int64_t(1) << 40;
  same_order.push_back(mixed);
  // Every weight-gradient tile width: each element is still summed over the pixels in order.
  for (int64_t v = 0; v <= 4; ++v) {
    ConvBlocking b = base;
    b.wgrad_vectors = v;
    if (!(b == base)) same_order.push_back(b);
  }
  const Isa before = cpu_isa();
  const std::vector<Isa> isas = test::isa_paths();
  for (Isa isa : isas) {
    force_isa(isa);
    INFO(isa_name(isa));
    compare_blockings(base, same_order, 7, [](const Passes& ref, const Passes& p) {
      CHECK(p.y == ref.y);
      CHECK(p.dx == ref.dx);
      CHECK(p.dw == ref.dw);
    });
  }
  force_isa(before);
}

TEST_CASE("reduction chunks and pixel parts change results only by rounding (1e-5 relative)") {
  const ConvBlocking base = derived_conv_blocking();
  std::vector<ConvBlocking> reordered;
  for (int64_t k : {16, 64, 200, 1 << 20}) {
    ConvBlocking b = base;
    b.chunk_k = k;
    reordered.push_back(b);
  }
  for (int64_t part : {int64_t(0), int64_t(1) << 40}) {
    ConvBlocking b = base;
    b.wgrad_part_bytes = part;
    reordered.push_back(b);
  }
  double worst = 0;
  compare_blockings(base, reordered, 11, [&](const Passes& ref, const Passes& p) {
    const double e = std::max({rel_err(p.y, ref.y), rel_err(p.dx, ref.dx), rel_err(p.dw, ref.dw)});
    CHECK(e < 1e-5);
    worst = std::max(worst, e);
  });
  std::printf("reordering blockings vs derived: max relative difference %.3g\n", worst);
}

TEST_CASE("the tuning file round-trips and untrusted files are refused with the reason") {
  const auto dir = test::scratch_dir("tuning");
  const std::string path = (dir / "sub" / "tune.json").string();
  ConvBlocking b = derived_conv_blocking();
  b.chunk_k = 320;
  b.wgrad_vectors = 3;
  const WinogradChoice wino{64, 64, 56, 56, 1, 16, true, 2.5, 3.0}, direct{512, 512, 7, 7, 1, 16, false, 1.2, 1.0};
  const WinogradChoice bf16{128, 128, 28, 28, 1, 16, true, 1.0, 2.0, WinogradPass::bf16};
  const WinogradChoice wgrad{256, 256, 14, 14, 1, 16, false, 4.0, 3.5, WinogradPass::wgrad};
  write_conv_tuning(path, {{"fwd/k3x3/s1/c64/oc64", b, 1.5, 1.7}}, {wino, direct, bf16, wgrad});
  const ConvTuningFile f = read_conv_tuning(path);
  REQUIRE(f.blocking.size() == 1);
  CHECK(f.blocking.at("fwd/k3x3/s1/c64/oc64") == b);
  // In the file's key order: bf16-winograd, wgrad-winograd, then winograd c512 before c64.
  REQUIRE(f.winograd.size() == 4);
  CHECK(winograd_choice_class(f.winograd[3]) == "winograd/c64/oc64/56x56/p1");
  CHECK((f.winograd[3].winograd && f.winograd[3].batch == 16 && f.winograd[3].ms == 2.5 &&
         f.winograd[3].pass == WinogradPass::forward));
  CHECK((!f.winograd[2].winograd && f.winograd[2].H == 7 && f.winograd[2].direct_ms == 1.0 &&
         f.winograd[2].pass == WinogradPass::forward));
  CHECK(winograd_choice_class(f.winograd[0]) == "bf16-winograd/c128/oc128/28x28/p1");
  CHECK((f.winograd[0].pass == WinogradPass::bf16 && f.winograd[0].winograd && f.winograd[0].C == 128 &&
         f.winograd[0].direct_ms == 2.0));
  CHECK(winograd_choice_class(f.winograd[1]) == "wgrad-winograd/c256/oc256/14x14/p1");
  CHECK((f.winograd[1].pass == WinogradPass::wgrad && !f.winograd[1].winograd && f.winograd[1].ms == 4.0));

  std::ifstream in(path);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto refused = [&](const std::string& text, const std::string& reason) {
    const std::string bad = (dir / "bad.json").string();
    write(bad, text);
    try {
      read_conv_tuning(bad);
      FAIL("accepted: " << text.substr(0, 200));
    } catch (const InputError& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(bad) != std::string::npos);
      CHECK(std::string(e.what()).find(reason) != std::string::npos);
    }
  };
  auto edit = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  refused(good.substr(0, good.size() / 2), "not valid JSON");
  refused("[1, 2]", "not a deepslide tuning file");
  refused(std::string(2 << 20, ' '), "larger than");
  refused(std::string(100, '[') + std::string(100, ']'), "nested deeper");
  refused(edit("\"version\": 5", "\"version\": 6"), "unsupported version");
  refused(edit("\"isa\": \"" + std::string(isa_name(cpu_isa())) + "\"", "\"isa\": \"other\""), "another CPU");
  refused(edit("\"l2\": ", "\"l2\": 1"), "another CPU");
  refused(edit("\"chunk_k\": 320", "\"chunk_k\": 3"), "chunk_k");
  refused(edit("\"chunk_k\": 320", "\"chunk_k\": \"320\""), "chunk_k");
  refused(edit("\"group_bytes\": ", "\"group_bytes\": -"), "group_bytes");
  refused(edit("\"wgrad_vectors\": 3", "\"wgrad_vectors\": 5"), "wgrad_vectors missing or outside 0..4");
  refused(edit("\"classes\": {", "\"classes\": [{"), "");
  refused(edit("\"winograd\": true", "\"winograd\": 1"), "winograd missing or not true/false");
  refused(edit("\"c\": 64", "\"c\": 0"), "c missing or outside");
  refused(edit("\"h\": 56", "\"h\": 28"), "its fields name another shape");
  refused(edit("\"batch\": 16", "\"batch\": -1"), "batch missing or outside");
  refused(edit("\"direct_ms\": 3.0", "\"direct_ms\": [[1]]"), "direct_ms is not a number");
  refused(edit("\"c\": 128", "\"c\": 64"), "its fields name another shape (bf16-winograd/c64");
  refused(edit("\"c\": 256", "\"c\": 64"), "its fields name another shape (wgrad-winograd/c64");
  // Version 1 to 4 files (before the Winograd, the bf16 and the weight-gradient choices, and the
  // weight-gradient tile width) still read; without wgrad_vectors, theirs is the derived one.
  for (const char* v : {"1", "2", "3", "4"}) {
    const std::string older = (dir / (std::string("v") + v + ".json")).string();
    std::string text = edit("\"version\": 5", std::string("\"version\": ") + v);
    const size_t field = text.find("\"wgrad_vectors\": 3"), comma = text.rfind(',', field);
    REQUIRE(field != std::string::npos);
    write(older, text.erase(comma, field + std::string("\"wgrad_vectors\": 3").size() - comma));
    const ConvTuningFile old = read_conv_tuning(older);
    REQUIRE(old.blocking.size() == 1);
    CHECK(old.blocking.at("fwd/k3x3/s1/c64/oc64").wgrad_vectors == derived_conv_blocking().wgrad_vectors);
    CHECK(old.blocking.at("fwd/k3x3/s1/c64/oc64").chunk_k == 320);
  }
}

TEST_CASE("a measured Winograd choice holds for larger batches, a direct one for smaller") {
  const std::vector<WinogradChoice> choices = {{64, 64, 56, 56, 1, 16, true, 2.5, 3.0},
                                               {512, 512, 7, 7, 1, 16, false, 1.2, 1.0}};
  auto at = [&](int64_t n, int64_t c, int64_t h) {
    return winograd_choice_for(choices, make_conv_dims(n, c, h, h, c, 3, 3, 1, 1));
  };
  CHECK(at(16, 64, 56) == std::optional<bool>(true));
  CHECK(at(64, 64, 56) == std::optional<bool>(true));
  CHECK(at(1, 64, 56) == std::nullopt);  // fewer tiles than measured: the rule decides
  CHECK(at(16, 512, 7) == std::optional<bool>(false));
  CHECK(at(1, 512, 7) == std::optional<bool>(false));
  CHECK(at(64, 512, 7) == std::nullopt);
  CHECK(at(16, 128, 28) == std::nullopt);                                                               // not measured
  CHECK(winograd_choice_for(choices, make_conv_dims(16, 64, 56, 56, 64, 3, 3, 1, 0)) == std::nullopt);  // other padding
  // Each pass's choices count only for that pass.
  const std::vector<WinogradChoice> mixed = {{64, 64, 56, 56, 1, 16, false, 2.5, 2.0, WinogradPass::bf16},
                                             {64, 64, 56, 56, 1, 16, true, 2.5, 3.0},
                                             {64, 64, 56, 56, 1, 16, false, 3.5, 3.0, WinogradPass::wgrad}};
  const ConvDims d = make_conv_dims(16, 64, 56, 56, 64, 3, 3, 1, 1);
  CHECK(winograd_choice_for(mixed, d) == std::optional<bool>(true));
  CHECK(winograd_choice_for(mixed, d, WinogradPass::bf16) == std::optional<bool>(false));
  CHECK(winograd_choice_for(mixed, d, WinogradPass::wgrad) == std::optional<bool>(false));
  CHECK(winograd_choice_for(choices, d, WinogradPass::bf16) == std::nullopt);
  CHECK(winograd_choice_for(choices, d, WinogradPass::wgrad) == std::nullopt);
}
