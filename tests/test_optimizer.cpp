// Adam, SGD and ExponentialLR: hand-computed steps, PyTorch trajectories on one small tensor
// (tests/fixtures/parity, opt.*), exact save/restore of optimizer state, and the ResNet-18 losses
// over 3 Adam and 3 SGD-momentum steps against PyTorch (with the training forward's 3x3 stride-1
// convolutions direct, chosen per layer, and all by Winograd).
// Relative error of a tensor = max|ours - torch| / max|torch| over the tensor.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <memory>

#include "base/error.h"
#include "engine/kernels/conv_winograd.h"
#include "test_util.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"

using namespace ds;
using namespace ds::test;

namespace {

// One parameter with the given values and a ParamSet over it.
struct OneParam {
  Param p;
  ParamSet ps;
  explicit OneParam(const std::vector<float>& v) : p("w", Shape{(int64_t)v.size()}) {
    for (size_t i = 0; i < v.size(); ++i) p.value[(int64_t)i] = v[i];
    ps.params.push_back(&p);
  }
  void set_grad(const std::vector<float>& g) {
    for (size_t i = 0; i < g.size(); ++i) p.grad[(int64_t)i] = g[i];
  }
};

}  // namespace

TEST_CASE("Adam: hand-computed steps") {
  // Constant gradient, no weight decay: the bias-corrected moments are exactly g and g^2, so each
  // step moves by lr * g / (|g| + eps) = lr * sign(g) (up to eps and rounding).
  OneParam w({1.0f, -2.0f, 3.0f});
  AdamOptions o;
  o.lr = 0.1;
  Adam opt(w.ps, o);
  for (int s = 1; s <= 5; ++s) {
    w.set_grad({0.5f, -4.0f, 1e-3f});
    opt.step();
    REQUIRE(w.p.value[0] == Approx(1.0 - 0.1 * s).margin(1e-6));
    REQUIRE(w.p.value[1] == Approx(-2.0 + 0.1 * s).margin(1e-6));
    REQUIRE(w.p.value[2] == Approx(3.0 - 0.1 * s * (1e-3 / (1e-3 + 1e-8))).margin(1e-6));
  }
  REQUIRE(opt.step_count() == 5);

  // Weight decay is L2 added to the gradient, before the moments (torch.optim.Adam, not AdamW).
  // Step 1 with p = 2, g = 0.3, wd = 0.5: g' = 1.3; m = 0.13, v = 0.00169;
  // p -= (lr / 0.1) * 0.13 / (sqrt(0.00169) / sqrt(0.001) + eps) = lr * 1.3 / (1.3 + eps).
  OneParam d({2.0f});
  AdamOptions od;
  od.lr = 0.01;
  od.weight_decay = 0.5;
  Adam opt_d(d.ps, od);
  d.set_grad({0.3f});
  opt_d.step();
  REQUIRE(d.p.value[0] == Approx(2.0 - 0.01 * 1.3 / (1.3 + 1e-8)).margin(1e-7));
  REQUIRE(opt_d.exp_avg()[0][0] == Approx(0.13).epsilon(1e-6));
  REQUIRE(opt_d.exp_avg_sq()[0][0] == Approx(0.00169).epsilon(1e-5));
  // Step 2 with g = -0.3 and p' from step 1: every term by hand.
  const double p1 = d.p.value[0];
  d.set_grad({-0.3f});
  opt_d.step();
  const double g2 = -0.3 + 0.5 * p1;
  const double m2 = 0.9 * 0.13 + 0.1 * g2, v2 = 0.999 * 0.00169 + 0.001 * g2 * g2;
  const double want = p1 - (0.01 / (1 - 0.81)) * m2 / (std::sqrt(v2) / std::sqrt(1 - 0.998001) + 1e-8);
  REQUIRE(d.p.value[0] == Approx(want).margin(1e-6));
}

TEST_CASE("SGD: hand-computed steps") {
  SECTION("plain, with weight decay") {
    OneParam w({1.0f});
    SgdOptions o;
    o.lr = 0.1;
    o.weight_decay = 0.1;
    Sgd opt(w.ps, o);
    w.set_grad({0.5f});
    opt.step();  // g = 0.5 + 0.1 * 1 = 0.6
    REQUIRE(w.p.value[0] == Approx(0.94).epsilon(1e-6));
    REQUIRE(opt.state().tensors.empty());  // no momentum buffer without momentum
  }
  SECTION("momentum: first buffer is the gradient") {
    OneParam w({1.0f});
    SgdOptions o;
    o.lr = 0.1;
    o.momentum = 0.9;
    Sgd opt(w.ps, o);
    w.set_grad({0.5f});
    opt.step();  // buf = 0.5
    REQUIRE(w.p.value[0] == Approx(0.95).epsilon(1e-6));
    opt.step();  // buf = 0.9 * 0.5 + 0.5 = 0.95
    REQUIRE(w.p.value[0] == Approx(0.855).epsilon(1e-6));
    REQUIRE(opt.momentum_buffer()[0][0] == Approx(0.95).epsilon(1e-6));
  }
  SECTION("nesterov") {
    OneParam w({1.0f});
    SgdOptions o;
    o.lr = 0.1;
    o.momentum = 0.9;
    o.nesterov = true;
    Sgd opt(w.ps, o);
    w.set_grad({0.5f});
    opt.step();  // buf = 0.5, update = 0.5 + 0.9 * 0.5 = 0.95
    REQUIRE(w.p.value[0] == Approx(0.905).epsilon(1e-6));
    opt.step();  // buf = 0.95, update = 0.5 + 0.855 = 1.355
    REQUIRE(w.p.value[0] == Approx(0.7695).epsilon(1e-6));
  }
  SECTION("dampening applies from the second step") {
    OneParam w({1.0f});
    SgdOptions o;
    o.lr = 1.0;
    o.momentum = 0.5;
    o.dampening = 0.3;
    Sgd opt(w.ps, o);
    w.set_grad({0.5f});
    opt.step();  // buf = 0.5
    REQUIRE(w.p.value[0] == Approx(0.5).epsilon(1e-6));
    opt.step();  // buf = 0.25 + 0.7 * 0.5 = 0.6
    REQUIRE(w.p.value[0] == Approx(-0.1).epsilon(1e-5));
  }
  SECTION("bad options") {
    OneParam w({1.0f});
    SgdOptions o;
    o.nesterov = true;  // without momentum
    REQUIRE_THROWS_AS(Sgd(w.ps, o), InputError);
    o.nesterov = false;
    o.momentum = -1;
    REQUIRE_THROWS_AS(Sgd(w.ps, o), InputError);
    AdamOptions a;
    a.beta1 = 1.0;
    REQUIRE_THROWS_AS(Adam(w.ps, a), InputError);
    Sgd ok(w.ps, SgdOptions{});
    REQUIRE_THROWS_AS(ok.set_lr(-1), InputError);
    REQUIRE_THROWS_AS(ok.set_lr(NAN), InputError);
  }
}

TEST_CASE("optimizers match PyTorch trajectories on one tensor") {
  const auto& fx = parity_fixtures();
  const auto& u = fx.doc["optimizer_unit"];
  const int64_t n = u["n"].get<int64_t>();
  const int steps = u["steps"].get<int>();
  const float grad_scale = u["grad_scale"].get<float>();
  for (const auto& [name, h] : u["cases"].items()) {
    OneParam w(formula_tensor(Shape{n}, u["param_stream"].get<uint64_t>()).to_vector());
    std::unique_ptr<Optimizer> opt;
    if (name.rfind("adam", 0) == 0) {
      AdamOptions o;
      o.lr = h["lr"].get<double>();
      o.beta1 = h["beta1"].get<double>();
      o.beta2 = h["beta2"].get<double>();
      o.eps = h["eps"].get<double>();
      o.weight_decay = h["weight_decay"].get<double>();
      opt = std::make_unique<Adam>(w.ps, o);
    } else {
      SgdOptions o;
      o.lr = h["lr"].get<double>();
      o.momentum = h["momentum"].get<double>();
      o.dampening = h["dampening"].get<double>();
      o.weight_decay = h["weight_decay"].get<double>();
      o.nesterov = h["nesterov"].get<bool>();
      opt = std::make_unique<Sgd>(w.ps, o);
    }
    const Tensor ref = fx.get("opt." + name);  // [steps, n]
    double worst = 0;
    for (int s = 0; s < steps; ++s) {
      Tensor g = formula_tensor(Shape{n}, u["grad_stream"].get<uint64_t>() + (uint64_t)s);
      for (int64_t i = 0; i < n; ++i) w.p.grad[i] = g[i] * grad_scale;
      opt->step();
      worst = std::max(worst, rel_err(w.p.value, ref.slice(s, s + 1)));
    }
    std::printf("optimizer %-14s %d steps: max rel err vs torch %.3g\n", name.c_str(), steps, worst);
    INFO(name);
    CHECK(worst <= 1e-6);
  }
}

TEST_CASE("optimizer state saves and restores exactly") {
  const Tensor init = formula_tensor(Shape{64}, 77);
  auto grad_at = [](int s) { return formula_tensor(Shape{64}, 300 + (uint64_t)s); };
  auto run = [&](auto make, const char* kind) {
    // Reference: 5 uninterrupted steps.
    OneParam a(init.to_vector());
    auto opt_a = make(a.ps);
    for (int s = 0; s < 5; ++s) {
      a.p.grad.copy_from(grad_at(s));
      opt_a.step();
    }
    // 2 steps, snapshot, then a fresh optimizer restored from it takes the last 3.
    OneParam b(init.to_vector());
    auto opt_b = make(b.ps);
    for (int s = 0; s < 2; ++s) {
      b.p.grad.copy_from(grad_at(s));
      opt_b.step();
    }
    OptimizerState st = opt_b.state();
    REQUIRE(st.kind == kind);
    REQUIRE(st.step == 2);
    for (int s = 2; s < 5; ++s) {  // must not touch the snapshot (restoring it below proves it)
      b.p.grad.copy_from(grad_at(s));
      opt_b.step();
    }
    OneParam c(init.to_vector());
    auto opt_c = make(c.ps);
    for (int s = 0; s < 2; ++s) {  // bring the parameter itself to its state after step 2
      c.p.grad.copy_from(grad_at(s));
      opt_c.step();
    }
    auto opt_r = make(c.ps);
    opt_r.load_state(st);
    REQUIRE(opt_r.step_count() == 2);
    for (int s = 2; s < 5; ++s) {
      c.p.grad.copy_from(grad_at(s));
      opt_r.step();
    }
    REQUIRE(max_abs_diff(a.p.value, c.p.value) == 0.0f);
    REQUIRE(max_abs_diff(a.p.value, b.p.value) == 0.0f);
    return st;
  };
  AdamOptions ao;
  ao.lr = 0.01;
  ao.weight_decay = 0.01;
  OptimizerState adam_st = run([&](const ParamSet& ps) { return Adam(ps, ao); }, "adam");
  REQUIRE(adam_st.names == std::vector<std::string>{"exp_avg/w", "exp_avg_sq/w"});
  SgdOptions so;
  so.lr = 0.05;
  so.momentum = 0.9;
  OptimizerState sgd_st = run([&](const ParamSet& ps) { return Sgd(ps, so); }, "sgd");
  REQUIRE(sgd_st.names == std::vector<std::string>{"momentum_buffer/w"});

  // Mismatches are InputErrors naming the problem.
  OneParam w(init.to_vector());
  Adam adam(w.ps, ao);
  REQUIRE_THROWS_WITH(adam.load_state(sgd_st), Catch::Contains("sgd"));
  OptimizerState bad = adam_st;
  bad.names[1] = "exp_avg_sq/v";
  REQUIRE_THROWS_WITH(adam.load_state(bad), Catch::Contains("exp_avg_sq/v"));
  bad = adam_st;
  bad.tensors[0] = Tensor(Shape{63});
  REQUIRE_THROWS_WITH(adam.load_state(bad), Catch::Contains("[63]"));
  bad = adam_st;
  bad.tensors.pop_back();
  bad.names.pop_back();
  REQUIRE_THROWS_AS(adam.load_state(bad), InputError);
  REQUIRE(adam.step_count() == 0);  // failed loads change nothing
}

TEST_CASE("optimizer state holds convolution weights' slots in PyTorch's layout") {
  // A Conv2d weight is held [KH, KW, C, OC]; checkpoints get its slots as [OC, C, KH, KW], like
  // the model file gets the weight, and load_state() converts back.
  Conv2d conv("c", 3, 4, 2, 1, 0, false);
  for (int64_t i = 0; i < conv.weight.value.numel(); ++i) {
    conv.weight.value[i] = 0.01f * (float)i;
    conv.weight.grad[i] = 0.1f * (float)(i % 7) - 0.3f;
  }
  ParamSet ps;
  conv.collect(ps);
  Adam opt(ps, AdamOptions{});
  opt.step();
  const OptimizerState st = opt.state();
  REQUIRE(st.names[0] == "exp_avg/c.weight");
  REQUIRE(st.tensors[0].shape() == Shape{4, 3, 2, 2});
  // exp_avg after one step is (1 - beta1) * grad: check the mapping element by element.
  for (int64_t oc = 0; oc < 4; ++oc)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t kh = 0; kh < 2; ++kh)
        for (int64_t kw = 0; kw < 2; ++kw) {
          const float g = conv.weight.grad[((kh * 2 + kw) * 3 + c) * 4 + oc];
          REQUIRE(st.tensors[0][((oc * 3 + c) * 2 + kh) * 2 + kw] == Approx(0.1f * g).margin(1e-7));
        }
  Adam restored(ps, AdamOptions{});
  restored.load_state(st);
  const OptimizerState again = restored.state();
  for (size_t i = 0; i < st.tensors.size(); ++i) REQUIRE(max_abs_diff(again.tensors[i], st.tensors[i]) == 0.0f);
  OptimizerState bad = st;
  bad.tensors[0] = Tensor(Shape{2, 2, 3, 4});  // the in-memory shape is not the file's
  REQUIRE_THROWS_WITH(restored.load_state(bad), Catch::Contains("[4, 3, 2, 2]"));
}

TEST_CASE("zero_grad clears every gradient") {
  OneParam w({1.0f, 2.0f});
  w.set_grad({3.0f, 4.0f});
  Sgd opt(w.ps, SgdOptions{});
  opt.zero_grad();
  REQUIRE(max_abs(w.p.grad) == 0.0f);
}

TEST_CASE("ExponentialLR matches torch's ExponentialLR per epoch") {
  const auto& s = parity_fixtures().doc["lr_schedule"];
  const double base = s["base_lr"].get<double>(), gamma = s["gamma"].get<double>();
  const auto lrs = s["lr_per_epoch"].get<std::vector<double>>();
  OneParam w({0.0f});
  AdamOptions o;
  o.lr = base;
  Adam opt(w.ps, o);
  ExponentialLR sched(opt, gamma);
  double worst = 0;
  for (size_t e = 0; e < lrs.size(); ++e) {
    REQUIRE(sched.epoch() == (int64_t)e);
    worst = std::max(worst, std::fabs(opt.lr() - lrs[e]) / lrs[e]);
    REQUIRE(opt.lr() == sched.lr());
    sched.step();
  }
  std::printf("ExponentialLR: %zu epochs, max rel err vs torch %.3g\n", lrs.size(), worst);
  REQUIRE(worst <= 1e-12);
  REQUIRE(ExponentialLR::lr_at(1e-3, 0.85, 2) == Approx(1e-3 * 0.85 * 0.85).epsilon(1e-15));
  sched.set_epoch(3);  // resume
  REQUIRE(opt.lr() == Approx(lrs[3]).epsilon(1e-12));
  REQUIRE(sched.base_lr() == base);
  REQUIRE_THROWS_AS(sched.set_epoch(-1), InputError);
  REQUIRE_THROWS_AS(ExponentialLR(opt, 0.0), InputError);
}

namespace {

constexpr WinogradMode kWinogradModes[] = {WinogradMode::off, WinogradMode::aut, WinogradMode::on};

// Losses before each of 3 optimizer steps and after the last, as gen_fixtures.py computes them.
std::vector<float> three_step_losses(ParityResNet18& m, Optimizer& opt) {
  std::vector<float> losses;
  for (int s = 0; s < 3; ++s) {
    opt.zero_grad();
    VarPtr input, logits;
    losses.push_back(m.train_step(input, logits)->value[0]);
    opt.step();
  }
  Context ctx{nullptr, true};
  losses.push_back(softmax_cross_entropy(ctx, m.net.forward(ctx, make_var(m.x.clone())), m.labels)->value[0]);
  return losses;
}

}  // namespace

// The losses over 3 steps of the optimizer make(net params) returns against PyTorch's (key), with
// the training's 3x3 stride-1 convolutions direct, as auto picks them and all by Winograd (the
// transformed filters must follow the weights from step to step). The trajectory is compared as
// one tensor (limit 1e-4 of its largest loss): the later losses are small (Adam memorises the
// batch), so their own relative error is larger.
template <class Make>
void check_three_steps_per_mode(const char* name, const char* key, Make make) {
  for (const WinogradMode mode : kWinogradModes) {
    force_winograd_mode(mode);
    ParityResNet18 m;
    std::unique_ptr<Optimizer> opt = make(m.net.params());
    std::vector<float> losses = three_step_losses(m, *opt);
    Tensor ref = parity_fixtures().get(key);
    const double e = rel_err(losses, ref.to_vector());
    std::printf("resnet18 %s losses (conv %s) ours %.6f %.6f %.6f %.6f torch %.6f %.6f %.6f %.6f: rel err %.3g\n", name,
                conv_algo_name(mode), losses[0], losses[1], losses[2], losses[3], ref[0], ref[1], ref[2], ref[3], e);
    INFO(name << ", conv " << conv_algo_name(mode));
    CHECK(e <= 1e-4);
    REQUIRE(opt->step_count() == 3);
  }
  force_winograd_mode(WinogradMode::aut);
}

TEST_CASE("resnet18 losses over 3 Adam steps match PyTorch") {
  const auto& h = parity_fixtures().doc["adam"];
  AdamOptions o;
  o.lr = h["lr"].get<double>();
  o.beta1 = h["betas"][0].get<double>();
  o.beta2 = h["betas"][1].get<double>();
  o.eps = h["eps"].get<double>();
  o.weight_decay = h["weight_decay"].get<double>();
  check_three_steps_per_mode("Adam", "r18.adam.losses",
                             [&](const ParamSet& ps) { return std::make_unique<Adam>(ps, o); });
}

TEST_CASE("resnet18 losses over 3 SGD-momentum steps match PyTorch") {
  const auto& h = parity_fixtures().doc["sgd"];
  SgdOptions o;
  o.lr = h["lr"].get<double>();
  o.momentum = h["momentum"].get<double>();
  o.dampening = h["dampening"].get<double>();
  o.weight_decay = h["weight_decay"].get<double>();
  o.nesterov = h["nesterov"].get<bool>();
  check_three_steps_per_mode("SGD", "r18.sgd.losses", [&](const ParamSet& ps) { return std::make_unique<Sgd>(ps, o); });
}
