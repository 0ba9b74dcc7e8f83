// Winograd in training (Conv2d::forward and its backward node, layers/conv2d.cpp): on small odd
// shapes (padding 0-2, outputs not multiples of 4, batch 1 and 3, with and without bias) the
// layer's output, input gradient and weight gradient with --conv-algo winograd equal the direct
// ones within the Winograd tolerance of test_winograd, and its bias gradient is bit-identical for
// the same output gradient; through a conv -> BN -> ReLU -> conv chain, where
// the forward's rounding reaches the gradients, all agree to 1e-4; the transform follows weights
// changed between forwards; the algorithms are logged; reference mode stays direct; the
// backward-data kernel against the direct one (add and overwrite). PyTorch parity of whole
// training steps in every mode is in test_resnet_parity and test_optimizer.
#include <catch2/catch.hpp>

#include <cstdio>
#include <vector>

#include "base/rng.h"
#include "base/threads.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv_winograd.h"
#include "isa_paths.h"
#include "layers/layers.h"
#include "test_util.h"

using namespace ds;

namespace {

void fill_normal(Tensor& t, Rng& rng, float scale = 1.0f) {
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = scale * rng.normal();
}

struct Grads {
  Tensor y, dx, dw, db;
  std::vector<ConvAlgoUse> algos;
};

// Forward with the tape under `mode`, output gradient r, backward; returns the output and every
// gradient. fn maps the input to the output through the layers under test.
template <class Fn>
Grads run(WinogradMode mode, const Tensor& x0, const Tensor& r, std::vector<Param*> params, Fn fn) {
  force_winograd_mode(mode);
  for (Param* p : params)
    if (p->grad.defined()) p->grad.zero();
  Grads g;
  set_conv_algo_log(&g.algos);
  Tape tape;
  Context ctx{&tape, true};
  VarPtr x = make_var(x0.clone());
  VarPtr y = fn(ctx, x);
  VarPtr loss = make_var(Tensor::full(Shape{1}, 0.0f));
  tape.push([y, r] {
    Tensor& gy = y->ensure_grad();
    for (int64_t i = 0; i < gy.numel(); ++i) gy[i] += r[i];
  });
  tape.backward(loss);
  set_conv_algo_log(nullptr);
  force_winograd_mode(WinogradMode::aut);
  g.y = y->value.clone();
  g.dx = x->grad.clone();
  g.dw = params[0]->grad.clone();
  if (params.size() > 1 && params[1]->grad.defined()) g.db = params[1]->grad.clone();
  return g;
}

bool same(const Tensor& a, const Tensor& b) { return test::rel_err(a, b) == 0.0; }

struct Case {
  int64_t N, C, H, W, OC, pad;
  bool bias;
};
const Case kCases[] = {
    {1, 3, 5, 7, 5, 1, true},   {3, 5, 9, 11, 7, 1, false}, {1, 17, 6, 6, 33, 0, true},
    {3, 13, 7, 7, 17, 2, true}, {1, 2, 3, 3, 2, 0, false},  {3, 16, 10, 13, 24, 1, true},
};

}  // namespace

TEST_CASE("Conv2d's training forward and both backward passes by Winograd equal direct") {
  Rng rng(21);
  for (const Case& c : kCases) {
    Conv2d conv("c", c.C, c.OC, 3, 1, c.pad, c.bias);
    fill_normal(conv.weight.value, rng, 0.3f);
    if (c.bias) fill_normal(conv.bias.value, rng);
    Tensor x = Tensor::empty(Shape{c.N, c.H, c.W, c.C});
    fill_normal(x, rng);
    const Shape os = conv.out_shape(x.shape());
    Tensor r = Tensor::empty(os);
    fill_normal(r, rng);
    std::vector<Param*> ps = {&conv.weight, &conv.bias};
    auto fn = [&](Context& ctx, const VarPtr& in) { return conv.forward(ctx, in); };
    const Grads d = run(WinogradMode::off, x, r, ps, fn), w = run(WinogradMode::on, x, r, ps, fn);
    INFO("N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC << " pad=" << c.pad);
    REQUIRE(d.algos.size() == 3);  // the forward, then the weight-gradient and backward-data passes
    REQUIRE(w.algos.size() == 3);
    const char* wino = reference_kernels() ? "direct" : "winograd";
    CHECK((d.algos[0].layer == "c" && d.algos[0].algo == "direct"));
    CHECK((d.algos[1].layer == "c/bwd_weights" && d.algos[1].algo == "direct"));
    CHECK((d.algos[2].layer == "c/bwd_data" && d.algos[2].algo == "direct"));
    CHECK((w.algos[0].algo == wino && w.algos[1].algo == wino && w.algos[2].algo == wino));
    const double e = test::rel_err(w.y, d.y), ex = test::rel_err(w.dx, d.dx), ew = test::rel_err(w.dw, d.dw);
    std::printf(
        "train N=%lld C=%lld %lldx%lld OC=%lld pad %lld: winograd vs direct rel err: output %.3g, d input %.3g, "
        "d weight %.3g\n",
        (long long)c.N, (long long)c.C, (long long)c.H, (long long)c.W, (long long)c.OC, (long long)c.pad, e, ex, ew);
    CHECK(e < 2e-5);  // test_winograd's bound for the fast path against its float64 twin
    CHECK(ex < 2e-5);
    CHECK(ew < 3e-5);                     // test_winograd_wgrad's
    if (c.bias) CHECK(same(w.db, d.db));  // the same output gradient: the same sums
  }
}

TEST_CASE("gradients through a chain trained with a Winograd forward agree with direct") {
  // conv -> BN (batch statistics) -> ReLU -> conv: the first conv's output feeds BN and ReLU,
  // so its rounding reaches every gradient. 2 images of 12x12, 16 -> 24 -> 16 channels.
  Rng rng(4);
  Conv2d c1("c1", 16, 24, 3, 1, 1, false), c2("c2", 24, 16, 3, 1, 1, false);
  BatchNorm2d bn("bn", 24);
  fill_normal(c1.weight.value, rng, 0.1f);
  fill_normal(c2.weight.value, rng, 0.1f);
  Tensor x = Tensor::empty(Shape{2, 12, 12, 16});
  fill_normal(x, rng);
  Tensor r = Tensor::empty(Shape{2, 12, 12, 16});
  fill_normal(r, rng);
  auto fn = [&](Context& ctx, const VarPtr& in) {
    return c2.forward(ctx, bn.forward(ctx, c1.forward(ctx, in), nullptr, true));
  };
  std::vector<Param*> ps = {&c1.weight, &c2.weight, &bn.weight, &bn.bias};
  const Grads d = run(WinogradMode::off, x, r, ps, fn);
  const Tensor d_w2 = c2.weight.grad.clone(), d_gamma = bn.weight.grad.clone();
  const Grads w = run(WinogradMode::on, x, r, ps, fn);
  REQUIRE(w.algos.size() == 6);  // c1, c2 forward; c2, c1 weight gradients and backward data
  for (const ConvAlgoUse& u : w.algos) CHECK(u.algo == (reference_kernels() ? "direct" : "winograd"));
  const double ey = test::rel_err(w.y, d.y), ex = test::rel_err(w.dx, d.dx), e1 = test::rel_err(w.dw, d.dw),
               e2 = test::rel_err(c2.weight.grad, d_w2), eg = test::rel_err(bn.weight.grad, d_gamma);
  std::printf("chain: winograd vs direct rel err: output %.3g, d input %.3g, d c1 %.3g, d c2 %.3g, d gamma %.3g\n", ey,
              ex, e1, e2, eg);
  CHECK(ey < 1e-4);
  CHECK(ex < 1e-4);
  CHECK(e1 < 1e-4);
  CHECK(e2 < 1e-4);
  CHECK(eg < 1e-4);
}

TEST_CASE("the training forward's Winograd filters follow weights changed between forwards") {
  Rng rng(8);
  Conv2d conv("c", 8, 16, 3, 1, 1, false);
  fill_normal(conv.weight.value, rng, 0.2f);
  Tensor x = Tensor::empty(Shape{2, 9, 9, 8});
  fill_normal(x, rng);
  auto forward = [&](WinogradMode m) {
    force_winograd_mode(m);
    Tape tape;
    Context ctx{&tape, true};
    Tensor y = conv.forward(ctx, make_var(x.clone()))->value.clone();
    force_winograd_mode(WinogradMode::aut);
    return y;
  };
  const Tensor before = forward(WinogradMode::on);
  for (int64_t i = 0; i < conv.weight.value.numel(); i += 3) conv.weight.value[i] *= -2.0f;  // an "optimizer step"
  const Tensor after = forward(WinogradMode::on), direct = forward(WinogradMode::off);
  CHECK(test::rel_err(after, direct) < 2e-5);
  CHECK(test::rel_err(after, before) > 0.1);
}

TEST_CASE("reference mode trains with the direct convolution whatever --conv-algo says") {
  const Isa before = cpu_isa();
  force_isa(Isa::ref);
  Rng rng(3);
  Conv2d conv("c", 4, 4, 3, 1, 1, false);
  fill_normal(conv.weight.value, rng);
  Tensor x = Tensor::empty(Shape{1, 6, 6, 4}), r = Tensor::empty(Shape{1, 6, 6, 4});
  fill_normal(x, rng);
  fill_normal(r, rng);
  auto fn = [&](Context& ctx, const VarPtr& in) { return conv.forward(ctx, in); };
  const Grads w = run(WinogradMode::on, x, r, {&conv.weight}, fn);
  force_isa(before);
  REQUIRE(w.algos.size() == 3);
  for (const ConvAlgoUse& u : w.algos) CHECK(u.algo == "direct");
}

TEST_CASE("backward data by Winograd equals the direct backward data (padding 0-2, overwrite and add)") {
  Rng rng(17);
  for (const Case& c : kCases) {
    const ConvDims d = make_conv_dims(c.N, c.C, c.H, c.W, c.OC, 3, 3, 1, c.pad);
    REQUIRE(winograd_backward_data_applies(d));
    const ConvDims bd = winograd_backward_data_dims(d);
    CHECK((bd.OH == d.H && bd.OW == d.W && bd.C == d.OC && bd.OC == d.C));
    Tensor w = Tensor::empty(Shape{3, 3, c.C, c.OC}), dy = Tensor::empty(Shape{c.N, d.OH, d.OW, c.OC});
    Tensor base = Tensor::empty(Shape{c.N, c.H, c.W, c.C});
    fill_normal(w, rng, 0.3f);
    fill_normal(dy, rng);
    fill_normal(base, rng);
    const ConvWinogradWeights wt = pack_conv_winograd_backward_data(w.data(), c.C, c.OC);
    for (const bool overwrite : {true, false}) {
      Tensor direct = base.clone(), wino = base.clone();
      conv2d_backward_data(direct.data(), dy.data(), w.data(), d, overwrite);
      conv2d_backward_data_winograd(wino.data(), dy.data(), wt, d, overwrite);
      const double e = test::rel_err(wino, direct);
      INFO("N=" << c.N << " C=" << c.C << " H=" << c.H << " W=" << c.W << " OC=" << c.OC << " pad=" << c.pad
                << " overwrite " << overwrite);
      CHECK(e < 2e-5);
    }
  }
}

// Training's per-call Winograd (conv2d_forward_winograd_per_call): where one block of tiles covers
// the batch, each work item transforms its own part of U just before its GEMMs; the outputs, the
// channel sums and the backward-data gradients are bit-identical to the whole transform's path,
// on every ISA path the CPU has and on 1 and 2 threads (part widths differ with the thread count).
// Shapes: many output-channel parts, output channels not a multiple of 16 (zeroed U columns),
// 256+ channels, layer4's 512 -> 512 at 7x7, and one with several blocks (the packed path).
TEST_CASE("per-call Winograd transforming inside the work items equals the whole transform bit for bit") {
  struct Shape5 {
    int64_t N, C, H, W, OC;
    bool fuses;
  };
  const Shape5 shapes[] = {{1, 40, 11, 10, 520, true},
                           {1, 70, 9, 13, 40, true},
                           {1, 260, 5, 6, 300, true},
                           {2, 512, 7, 7, 512, true},
                           {4, 8, 40, 36, 24, false}};
  const std::vector<Isa> isas = test::isa_paths();
  const Isa before = cpu_isa();
  Rng rng(23);
  for (Isa isa : isas) {
    force_isa(isa);
    for (const Shape5& s : shapes) {
      const ConvDims d = make_conv_dims(s.N, s.C, s.H, s.W, s.OC, 3, 3, 1, 1);
      Tensor w = Tensor::empty(Shape{3, 3, s.C, s.OC}), x = Tensor::empty(Shape{s.N, s.H, s.W, s.C});
      Tensor res = Tensor::empty(Shape{s.N, d.OH, d.OW, s.OC}), bias = Tensor::empty(Shape{s.OC});
      fill_normal(w, rng, 0.1f);
      fill_normal(x, rng);
      fill_normal(res, rng);
      fill_normal(bias, rng);
      INFO(isa_name(isa) << " N=" << s.N << " C=" << s.C << " H=" << s.H << " W=" << s.W << " OC=" << s.OC);
      for (const int threads : {1, 2}) {
        set_num_threads(threads);
        CHECK(winograd_per_call_fuses(d) == s.fuses);
        std::vector<double> sums_packed(2 * s.OC), sums_call(2 * s.OC);
        ConvEpilogue ep{.bias = bias.data(), .residual = res.data(), .relu = true};
        Tensor y_packed = Tensor::full(res.shape(), 7.f), y_call = Tensor::full(res.shape(), -7.f);
        ep.channel_sums = sums_packed.data();
        conv2d_forward_winograd(y_packed.data(), x.data(), pack_conv_winograd(w.data(), nullptr, s.C, s.OC), d, ep);
        ConvWinogradWeights buf;
        ep.channel_sums = sums_call.data();
        conv2d_forward_winograd_per_call(y_call.data(), x.data(), w.data(), buf, d, ep);
        CHECK(same(y_call, y_packed));
        CHECK(sums_call == sums_packed);
        for (const bool overwrite : {true, false}) {
          Tensor dx_packed = x.clone(), dx_call = x.clone();
          conv2d_backward_data_winograd(dx_packed.data(), res.data(),
                                        pack_conv_winograd_backward_data(w.data(), s.C, s.OC), d, overwrite);
          conv2d_backward_data_winograd_per_call(dx_call.data(), res.data(), w.data(), buf, d, overwrite);
          CHECK(same(dx_call, dx_packed));
        }
      }
    }
  }
  set_num_threads(2);
  force_isa(before);
}
