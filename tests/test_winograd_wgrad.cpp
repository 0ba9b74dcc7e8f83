// Backward weights by Winograd F(4x4, 3x3) (conv2d_backward_weights_winograd,
// engine/kernels/conv_winograd_wgrad.cpp) on small odd shapes: padding 0-2, outputs not multiples
// of 4, batch 1 and 3, channels not multiples of 16, 256+ input channels and 512+ output channels
// (spaced rows), dU made whole (in one group or many, one range or many) and in parts
// (WgradWinoPlan). The float64 twin equals the float64 direct gradient to rounding (the algebra
// and the matrices); every ISA path the CPU has, on 1 and 2 threads, is within the documented
// bound of both, bit-identical across thread counts, chunk sizes, ranges and groups, adds into
// d_w, and sums the bias gradient as the direct pass does.
#include <catch2/catch.hpp>

#include <cstdio>
#include <vector>

#include "base/rng.h"
#include "base/threads.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/conv_blocking.h"
#include "engine/kernels/conv_winograd.h"
#include "isa_paths.h"
#include "test_util.h"

using namespace ds;

namespace {

void fill_normal(Tensor& t, Rng& rng, float scale = 1.0f) {
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = scale * rng.normal();
}

Tensor minus(const Tensor& a, const Tensor& b) {
  Tensor r = a.clone();
  for (int64_t i = 0; i < r.numel(); ++i) r[i] -= b[i];
  return r;
}

struct Case {
  int64_t N, C, H, W, OC, pad;
};
const Case kCases[] = {
    {1, 3, 5, 7, 5, 1},
    {3, 5, 9, 11, 7, 1},
    {1, 17, 6, 6, 33, 0},
    {3, 13, 7, 7, 17, 2},
    {1, 2, 3, 3, 2, 0},
    {3, 16, 10, 13, 24, 1},
    {2, 64, 14, 14, 64, 1},
    {1, 260, 6, 9, 40, 1},
    {1, 24, 7, 5, 520, 1},
    {2, 260, 14, 14, 520, 1},
    {2, 64, 32, 32, 64, 1},  // in 2 parts where dU (590 KB) fits 3/4
                             // of the L2, else whole
    {3, 16, 50, 50, 24, 1},  // 507 tiles in 7 parts on any CPU (dU 74 KB)
};

}  // namespace

TEST_CASE("backward weights by Winograd equal the float64 twin and the direct gradient") {
  Rng rng(31);
  const Isa before = cpu_isa();
  const std::vector<Isa> isas = test::isa_paths();
  for (const Case& c : kCases) {
    const ConvDims d = make_conv_dims(c.N, c.C, c.H, c.W, c.OC, 3, 3, 1, c.pad);
    REQUIRE(winograd_backward_weights_applies(d));
    Tensor x = Tensor::empty(Shape{c.N, c.H, c.W, c.C}), dy = Tensor::empty(Shape{c.N, d.OH, d.OW, c.OC});
    Tensor dw0 = Tensor::empty(Shape{3, 3, c.C, c.OC});
    fill_normal(x, rng);
    fill_normal(dy, rng);
    fill_normal(dw0, rng, 10.0f);
    INFO("N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC << " pad=" << c.pad);
    // Gradients alone (d_w from zero), float64 direct and the float64 Winograd twin.
    Tensor direct = Tensor::full(dw0.shape(), 0.f), twin = Tensor::full(dw0.shape(), 0.f);
    Tensor db_direct = Tensor::full(Shape{c.OC}, 0.f);
    conv2d_backward_weights_ref(direct.data(), db_direct.data(), dy.data(), x.data(), d);
    conv2d_backward_weights_winograd_ref(twin.data(), dy.data(), x.data(), d);
    const double e_twin = test::rel_err(twin, direct);
    CHECK(e_twin < 1e-6);  // the same sums in exact arithmetic: only the float results' rounding differs
    for (Isa isa : isas) {
      force_isa(isa);
      // 1 thread, 2 threads, 2 threads with chunks of one tile (and V and Z of the whole-batch
      // way made in ranges of 3 tiles), 2 threads with chunks of a few tiles (a partial last one)
      // and dU made one input-channel tile at a time (groups).
      ConvBlocking tiny = conv_blocking(d, ConvPass::backward_weights), some = tiny;
      tiny.wgrad_chunk_bytes = 4;
      some.wgrad_chunk_bytes = 65536, some.wgrad_super_bytes = 1;
      Tensor by_threads[4];
      for (const int run : {0, 1, 2, 3}) {
        set_num_threads(run == 0 ? 1 : 2);
        if (run >= 2) set_conv_blocking_override(run == 2 ? &tiny : &some);
        if (run == 2) set_winograd_wgrad_range_bytes(3 * 36 * 4 * (c.C + 16 + c.OC + 32));
        Tensor dw = dw0.clone(), db = Tensor::full(Shape{c.OC}, 0.f);
        conv2d_backward_weights_winograd(dw.data(), db.data(), dy.data(), x.data(), d);
        set_conv_blocking_override(nullptr);
        set_winograd_wgrad_range_bytes(0);
        by_threads[run] = minus(dw, dw0);  // what was added to d_w
        CHECK(test::rel_err(db, db_direct) < 1e-6);
      }
      const double e_direct = test::rel_err(by_threads[1], direct), e_twin_fast = test::rel_err(by_threads[1], twin);
      std::printf("wgrad %s N=%lld C=%lld %lldx%lld OC=%lld pad %lld: rel err vs float64 direct %.3g, vs twin %.3g\n",
                  isa_name(isa), (long long)c.N, (long long)c.C, (long long)c.H, (long long)c.W, (long long)c.OC,
                  (long long)c.pad, e_direct, e_twin_fast);
      // Measured up to 8.2e-6 (260 -> 520 channels at 50x50, a case since made smaller); rel_err
      // counts a NaN on one side as infinite.
      CHECK(e_direct < 3e-5);
      CHECK(e_twin_fast < 3e-5);
      for (int run : {0, 2, 3}) CHECK(test::rel_err(by_threads[run], by_threads[1]) == 0.0);
    }
  }
  set_num_threads(2);
  force_isa(before);
}
