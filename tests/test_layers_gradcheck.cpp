// Finite-difference checks of every layer and op in layers/layers.h: the gradient of a random
// scalar objective sum(out * R) (R fixed) with respect to every input element and every
// parameter element, analytic (tape) against central differences (float forward, objective
// summed in double). Inputs avoid ReLU kinks and max-pool ties. Also: BatchNorm running
// statistics against a hand computation, eval-mode BN, parameter names, inference without a
// tape, gradient accumulation, and the shape errors out_shape() raises.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "engine/autograd.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv_winograd.h"
#include "layers/layers.h"

using namespace ds;

namespace {

using Fn = std::function<VarPtr(Context&, const std::vector<VarPtr>&)>;

Tensor randn(const Shape& s, Rng& rng, float scale = 1.f, float shift = 0.f) {
  Tensor t(s);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = rng.normal() * scale + shift;
  return t;
}

// Values whose magnitudes are at least `gap` and whose pairwise distances are at least `gap`:
// a shuffled ladder, so perturbations of +-eps < gap / 2 never cross a ReLU kink or reorder a
// max-pool window.
Tensor ladder(const Shape& s, Rng& rng, float gap) {
  Tensor t(s);
  const int64_t n = t.numel();
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = (float)(i - n / 2) * gap + gap * 0.5f;
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[i], v[rng.uniform_int(i + 1)]);
  for (int64_t i = 0; i < n; ++i) t[i] = v[i];
  return t;
}

double objective(const Tensor& out, const std::vector<double>& r) {
  double s = 0;
  for (int64_t i = 0; i < out.numel(); ++i) s += (double)out[i] * r[i];
  return s;
}

struct CheckResult {
  double max_err = 0;  // max |numeric - analytic| / max(1, |analytic|)
  int64_t checked = 0;
};

// Compares the tape gradients of sum(fn(inputs) * R) with central differences for every
// element of every input and every parameter. training selects BatchNorm's mode.
CheckResult gradcheck(const std::string& what, const Fn& fn, const std::vector<VarPtr>& inputs,
                      const std::vector<Param*>& params, bool training, float eps = 1e-2f, double tol = 2e-3) {
  Rng rng(99);
  for (const VarPtr& x : inputs) x->grad = Tensor();
  for (Param* p : params) p->grad.zero();
  Tape tape;
  Context ctx{&tape, training};
  VarPtr out = fn(ctx, inputs);
  std::vector<double> r(out->value.numel());
  for (double& v : r) v = rng.normal();
  VarPtr loss = make_var(Tensor::full(Shape{1}, (float)objective(out->value, r)));
  tape.push([out, loss, r] {
    Tensor& g = out->ensure_grad();
    for (int64_t i = 0; i < g.numel(); ++i) g[i] += (float)(r[i] * loss->grad[0]);
  });
  tape.backward(loss);

  Context plain{nullptr, training};
  auto eval = [&] { return objective(fn(plain, inputs)->value, r); };
  CheckResult res;
  auto check_tensor = [&](Tensor& value, const Tensor& grad, const std::string& name) {
    for (int64_t i = 0; i < value.numel(); ++i) {
      const float orig = value[i];
      value[i] = orig + eps;
      const double fp = eval();
      value[i] = orig - eps;
      const double fm = eval();
      value[i] = orig;
      const double num = (fp - fm) / (2.0 * (double)eps);
      const double ana = grad.defined() ? grad[i] : 0.0;
      const double err = std::fabs(num - ana) / std::max(1.0, std::fabs(ana));
      res.max_err = std::max(res.max_err, err);
      ++res.checked;
      if (!(err <= tol)) {
        FAIL_CHECK(what << ": d/d " << name << "[" << i << "] numeric " << num << " analytic " << ana << " error "
                        << err);
      }
    }
  };
  for (size_t j = 0; j < inputs.size(); ++j)
    check_tensor(inputs[j]->value, inputs[j]->grad, "input" + std::to_string(j));
  for (Param* p : params) check_tensor(p->value, p->grad, p->name);
  std::printf("gradcheck %-44s %6lld values, max error %.2e\n", what.c_str(), (long long)res.checked, res.max_err);
  return res;
}

double g_worst = 0;
void note(const CheckResult& r) { g_worst = std::max(g_worst, r.max_err); }

// Draws in PyTorch's layout, so a parameter gets the same values whatever layout it is held in.
void randomize(Param& p, Rng& rng, float scale, float shift = 0.f) {
  Tensor t(file_shape(p));
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = rng.normal() * scale + shift;
  from_file_layout(p, t.data(), p.value);
}

// A conv (weights, and bias when it has one, N(0, w_scale)) and the BN after it (weight
// 1 + N(0, 0.3), bias N(0, 0.3), running mean N(0, 0.5), running variance 0.3..1.3) drawn from rng.
void randomize_conv_bn(Conv2d& conv, BatchNorm2d& bn, Rng& rng, float w_scale) {
  randomize(conv.weight, rng, w_scale);
  if (conv.has_bias) randomize(conv.bias, rng, w_scale);
  randomize(bn.weight, rng, 0.3f, 1.f);
  randomize(bn.bias, rng, 0.3f);
  for (int64_t c = 0; c < bn.C; ++c) {
    bn.running_mean.value[c] = rng.normal() * 0.5f;
    bn.running_var.value[c] = 0.3f + (float)rng.uniform();
  }
}

}  // namespace

TEST_CASE("Conv2d gradients: bias / no bias, stride 2, padding, 7x7, 1x1") {
  struct Case {
    int64_t N, C, H, W, OC, k, stride, pad;
    bool bias;
  };
  const Case cases[] = {{2, 3, 6, 5, 4, 3, 1, 1, true},  {1, 2, 7, 8, 3, 3, 2, 1, false},
                        {1, 2, 9, 9, 3, 7, 2, 3, false}, {2, 5, 4, 3, 3, 1, 1, 0, true},
                        {2, 3, 5, 6, 2, 1, 2, 0, false}, {1, 2, 4, 4, 2, 3, 1, 0, true}};
  Rng rng(1);
  for (const Case& c : cases) {
    Conv2d conv("layer1.0.conv1", c.C, c.OC, c.k, c.stride, c.pad, c.bias);
    randomize(conv.weight, rng, 0.5f);
    if (c.bias) randomize(conv.bias, rng, 0.5f);
    VarPtr x = make_var(randn(Shape{c.N, c.H, c.W, c.C}, rng));  // channels-last
    std::vector<Param*> ps = {&conv.weight};
    if (c.bias) ps.push_back(&conv.bias);
    const std::string what = "conv k" + std::to_string(c.k) + " s" + std::to_string(c.stride) + " p" +
                             std::to_string(c.pad) + (c.bias ? " bias" : " nobias");
    note(gradcheck(
        what, [&](Context& ctx, const std::vector<VarPtr>& in) { return conv.forward(ctx, in[0]); }, {x}, ps, true));
  }
}

TEST_CASE("BatchNorm2d gradients in training mode, running stats match a hand computation") {
  Rng rng(2);
  const int64_t N = 2, C = 3, H = 3, W = 4;
  BatchNorm2d bn("bn1", C);
  randomize(bn.weight, rng, 0.5f, 1.f);
  randomize(bn.bias, rng, 0.5f);
  VarPtr x = make_var(randn(Shape{N, H, W, C}, rng, 2.f, 0.5f));  // channels-last

  // One training forward from fresh running stats (0 and 1), by hand in double.
  BatchNorm2d fresh("bn1", C);
  fresh.weight.value.copy_from(bn.weight.value);
  fresh.bias.value.copy_from(bn.bias.value);
  Context train_ctx{nullptr, true};
  VarPtr y = fresh.forward(train_ctx, x);
  const int64_t HW = H * W, n = N * HW;
  double worst_stat = 0, worst_out = 0;
  for (int64_t c = 0; c < C; ++c) {
    double mean = 0, sq = 0;
    for (int64_t b = 0; b < N; ++b)
      for (int64_t i = 0; i < HW; ++i) mean += x->value[(b * HW + i) * C + c];
    mean /= n;
    for (int64_t b = 0; b < N; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const double t = x->value[(b * HW + i) * C + c] - mean;
        sq += t * t;
      }
    const double rm = 0.9 * 0.0 + 0.1 * mean, rv = 0.9 * 1.0 + 0.1 * sq / (n - 1);
    worst_stat =
        std::max({worst_stat, std::fabs(fresh.running_mean.value[c] - rm), std::fabs(fresh.running_var.value[c] - rv)});
    CHECK(fresh.running_mean.value[c] == Approx(rm).epsilon(1e-6).margin(1e-7));
    CHECK(fresh.running_var.value[c] == Approx(rv).epsilon(1e-6));
    const double invstd = 1.0 / std::sqrt(sq / n + 1e-5);
    for (int64_t b = 0; b < N; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t k = (b * HW + i) * C + c;
        const double e = (x->value[k] - mean) * invstd * bn.weight.value[c] + bn.bias.value[c];
        worst_out = std::max(worst_out, std::fabs(y->value[k] - e));
      }
  }
  std::printf("batchnorm train: running-stat error %.2e, output error %.2e\n", worst_stat, worst_out);
  CHECK(worst_out < 1e-5);

  note(gradcheck(
      "batchnorm2d train", [&](Context& ctx, const std::vector<VarPtr>& in) { return bn.forward(ctx, in[0]); }, {x},
      {&bn.weight, &bn.bias}, true));

  // Fused with what follows BN in a ResNet block: relu(bn(x) + residual). The residual puts
  // every pre-activation at least 0.3 away from the ReLU's kink, out of the step's reach, with
  // both signs present.
  VarPtr res = make_var(randn(Shape{N, H, W, C}, rng));
  {
    Context plain{nullptr, true};
    const Tensor y0 = bn.forward(plain, x)->value;
    for (int64_t i = 0; i < y0.numel(); ++i)
      res->value[i] = -y0[i] + (i % 3 == 0 ? -1.f : 1.f) * (0.3f + std::fabs(res->value[i]));
  }
  note(gradcheck(
      "batchnorm2d train + residual + relu",
      [&](Context& ctx, const std::vector<VarPtr>& in) { return bn.forward(ctx, in[0], in[1], true); }, {x, res},
      {&bn.weight, &bn.bias}, true));

  // A second forward moves the running stats again: (1 - m) r + m * batch_stat.
  const float rm0 = fresh.running_mean.value[0];
  fresh.forward(train_ctx, x);
  CHECK(fresh.running_mean.value[0] == Approx(0.9 * rm0 + (rm0 / 0.1) * 0.1).epsilon(1e-5));

  // Training needs more than one value per channel, as in PyTorch.
  VarPtr one = make_var(randn(Shape{1, 1, 1, C}, rng));
  REQUIRE_THROWS_AS(bn.forward(train_ctx, one), InputError);
}

TEST_CASE("BatchNorm2d in eval mode: running statistics, gradients, no stat update") {
  Rng rng(3);
  const int64_t C = 4;
  BatchNorm2d bn("layer2.0.downsample.1", C);
  randomize(bn.weight, rng, 0.5f, 1.f);
  randomize(bn.bias, rng, 0.5f);
  for (int64_t c = 0; c < C; ++c) {
    bn.running_mean.value[c] = rng.normal();
    bn.running_var.value[c] = 0.5f + (float)rng.uniform();
  }
  const Tensor rm = bn.running_mean.value.clone(), rv = bn.running_var.value.clone();
  VarPtr x = make_var(randn(Shape{2, 3, 2, C}, rng));
  Context eval_ctx{nullptr, false};
  VarPtr y = bn.forward(eval_ctx, x);
  double worst = 0;
  for (int64_t i = 0; i < x->value.numel(); ++i) {
    const int64_t c = i % C;
    const double e = (x->value[i] - rm[c]) / std::sqrt((double)rv[c] + 1e-5) * bn.weight.value[c] + bn.bias.value[c];
    worst = std::max(worst, std::fabs(y->value[i] - e));
  }
  CHECK(worst < 1e-5);
  note(gradcheck(
      "batchnorm2d eval", [&](Context& ctx, const std::vector<VarPtr>& in) { return bn.forward(ctx, in[0]); }, {x},
      {&bn.weight, &bn.bias}, false));
  REQUIRE(max_abs_diff(bn.running_mean.value, rm) == 0.f);
  REQUIRE(max_abs_diff(bn.running_var.value, rv) == 0.f);
}

TEST_CASE("MaxPool2d, ReLU, add, global average pool and Linear gradients") {
  Rng rng(4);
  MaxPool2d pool;  // k3 s2 p1, as ResNet
  VarPtr xp = make_var(ladder(Shape{2, 7, 6, 3}, rng, 0.05f));
  note(gradcheck(
      "maxpool2d k3 s2 p1", [&](Context& ctx, const std::vector<VarPtr>& in) { return pool.forward(ctx, in[0]); }, {xp},
      {}, true));
  MaxPool2d pool2{2, 2, 0};
  VarPtr xp2 = make_var(ladder(Shape{1, 5, 5, 2}, rng, 0.05f));
  note(gradcheck(
      "maxpool2d k2 s2 p0", [&](Context& ctx, const std::vector<VarPtr>& in) { return pool2.forward(ctx, in[0]); },
      {xp2}, {}, true));

  VarPtr xr = make_var(ladder(Shape{2, 3, 4, 5}, rng, 0.05f));
  note(gradcheck(
      "relu", [&](Context& ctx, const std::vector<VarPtr>& in) { return relu(ctx, in[0]); }, {xr}, {}, true));

  VarPtr a = make_var(randn(Shape{2, 3, 3, 3}, rng)), b = make_var(randn(Shape{2, 3, 3, 3}, rng));
  note(gradcheck(
      "add", [&](Context& ctx, const std::vector<VarPtr>& in) { return add(ctx, in[0], in[1]); }, {a, b}, {}, true));
  // The same Var on both sides gets the gradient twice.
  note(gradcheck(
      "add (x + x)", [&](Context& ctx, const std::vector<VarPtr>& in) { return add(ctx, in[0], in[0]); }, {a}, {},
      true));

  VarPtr xg = make_var(randn(Shape{2, 5, 3, 4}, rng));
  note(gradcheck(
      "global_avg_pool", [&](Context& ctx, const std::vector<VarPtr>& in) { return global_avg_pool(ctx, in[0]); }, {xg},
      {}, true));

  Linear fc("fc", 7, 3);
  randomize(fc.weight, rng, 0.5f);
  randomize(fc.bias, rng, 0.5f);
  VarPtr xl = make_var(randn(Shape{4, 7}, rng));
  note(gradcheck(
      "linear", [&](Context& ctx, const std::vector<VarPtr>& in) { return fc.forward(ctx, in[0]); }, {xl},
      {&fc.weight, &fc.bias}, true));
}

TEST_CASE("softmax cross-entropy gradient, probabilities and softmax()") {
  Rng rng(5);
  VarPtr logits = make_var(randn(Shape{4, 3}, rng, 2.f));
  const std::vector<int> labels = {2, 0, 1, 2};
  Tensor probs;
  note(gradcheck(
      "softmax_cross_entropy",
      [&](Context& ctx, const std::vector<VarPtr>& in) { return softmax_cross_entropy(ctx, in[0], labels, &probs); },
      {logits}, {}, true));
  Context plain;
  softmax_cross_entropy(plain, logits, labels, &probs);  // the check left perturbed probs
  Tensor p = softmax(logits->value);
  REQUIRE(p.shape() == Shape{4, 3});
  REQUIRE(max_abs_diff(p, probs) == 0.f);
  double loss = 0;
  for (int n = 0; n < 4; ++n) {
    double s = 0;
    for (int k = 0; k < 3; ++k) s += p[n * 3 + k];
    REQUIRE(s == Approx(1.0).epsilon(1e-6));
    loss -= std::log((double)p[n * 3 + labels[n]]);
  }
  Context ctx;
  VarPtr l = softmax_cross_entropy(ctx, logits, labels);
  REQUIRE(l->value.shape() == Shape{1});
  REQUIRE(l->value[0] == Approx(loss / 4).epsilon(1e-6));
  REQUIRE_THROWS_AS(softmax_cross_entropy(ctx, logits, {0, 1, 3, 0}), InputError);
  REQUIRE_THROWS_AS(softmax_cross_entropy(ctx, logits, {0, 1, -1, 0}), InputError);
  REQUIRE_THROWS_AS(softmax_cross_entropy(ctx, logits, {0, 1}), InputError);
}

TEST_CASE("a residual block chain: conv-bn-relu-conv-bn-add-relu-pool-gap-fc-xent") {
  Rng rng(6);
  const int64_t C = 3;
  Conv2d c1("layer1.0.conv1", C, C, 3, 1, 1, false), c2("layer1.0.conv2", C, C, 3, 1, 1, false);
  BatchNorm2d b1("layer1.0.bn1", C), b2("layer1.0.bn2", C);
  Linear fc("fc", C, 2);
  randomize(c1.weight, rng, 0.4f);
  randomize(c2.weight, rng, 0.4f);
  randomize(b1.weight, rng, 0.2f, 1.f);
  randomize(b2.weight, rng, 0.2f, 1.f);
  randomize(fc.weight, rng, 0.5f);
  MaxPool2d pool;
  VarPtr x = make_var(randn(Shape{2, 6, 6, C}, rng));
  const std::vector<int> labels = {1, 0};
  auto net = [&](Context& ctx, const std::vector<VarPtr>& in) {
    VarPtr h = relu(ctx, b1.forward(ctx, c1.forward(ctx, in[0])));
    h = b2.forward(ctx, c2.forward(ctx, h));
    h = relu(ctx, add(ctx, h, in[0]));
    h = global_avg_pool(ctx, pool.forward(ctx, h));
    return softmax_cross_entropy(ctx, fc.forward(ctx, h), labels);
  };
  // Smaller steps: a composite has kinks somewhere; this seed keeps every one out of reach.
  note(gradcheck("residual chain", net, {x},
                 {&c1.weight, &c2.weight, &b1.weight, &b1.bias, &b2.weight, &fc.weight, &fc.bias}, true, 2e-3f, 5e-3));
}

TEST_CASE("parameter names, initial values, inference without a tape, accumulation") {
  Conv2d conv("layer1.0.conv1", 3, 8, 3, 1, 1, false);
  Conv2d convb("head", 3, 8, 1, 1, 0, true);
  BatchNorm2d bn("layer1.0.bn1", 8);
  Linear fc("fc", 8, 2);
  ParamSet ps;
  conv.collect(ps);
  convb.collect(ps);
  bn.collect(ps);
  fc.collect(ps);
  std::vector<std::string> names;
  for (Param* p : ps.params) names.push_back(p->name);
  REQUIRE(names == std::vector<std::string>{"layer1.0.conv1.weight", "head.weight", "head.bias", "layer1.0.bn1.weight",
                                            "layer1.0.bn1.bias", "fc.weight", "fc.bias"});
  REQUIRE(ps.buffers.size() == 2);
  REQUIRE(ps.buffers[0]->name == "layer1.0.bn1.running_mean");
  REQUIRE(ps.buffers[1]->name == "layer1.0.bn1.running_var");
  REQUIRE(conv.weight.value.shape() == Shape{3, 3, 3, 8});  // [KH, KW, C, OC]
  REQUIRE(file_shape(conv.weight) == Shape{8, 3, 3, 3});
  REQUIRE(max_abs(conv.weight.value) == 0.f);
  REQUIRE(bn.weight.value[5] == 1.f);
  REQUIRE(bn.bias.value[5] == 0.f);
  REQUIRE(bn.running_mean.value[5] == 0.f);
  REQUIRE(bn.running_var.value[5] == 1.f);
  REQUIRE(fc.weight.value.shape() == Shape{2, 8});
  REQUIRE(max_abs(fc.weight.value) == 0.f);

  Rng rng(7);
  randomize(conv.weight, rng, 0.3f);
  randomize(fc.weight, rng, 0.3f);
  VarPtr x = make_var(randn(Shape{2, 5, 5, 3}, rng));
  auto net = [&](Context& ctx) {
    return fc.forward(ctx, global_avg_pool(ctx, relu(ctx, bn.forward(ctx, conv.forward(ctx, x)))));
  };
  Context infer;  // no tape, eval
  VarPtr y0 = net(infer);
  REQUIRE(y0->value.shape() == Shape{2, 2});
  REQUIRE(!x->grad.defined());

  Tape tape;
  Context train{&tape, false};
  VarPtr y1 = net(train);
  REQUIRE(tape.size() == 5);
  REQUIRE(max_abs_diff(y0->value, y1->value) == 0.f);
  VarPtr loss = softmax_cross_entropy(train, y1, {0, 1});
  tape.backward(loss);
  const Tensor g1 = conv.weight.grad.clone();
  REQUIRE(max_abs(g1) > 0.f);
  VarPtr loss2 = softmax_cross_entropy(train, net(train), {0, 1});
  tape.backward(loss2);
  for (int64_t i = 0; i < g1.numel(); ++i) REQUIRE(conv.weight.grad[i] == Approx(2 * g1[i]).margin(1e-6));
  zero_grads(ps);
  REQUIRE(max_abs(conv.weight.grad) == 0.f);
}

TEST_CASE("out_shape names both shapes when the input does not fit") {
  Conv2d conv("layer2.0.conv1", 64, 128, 3, 2, 1, false);
  REQUIRE(conv.out_shape(Shape{4, 56, 56, 64}) == Shape{4, 28, 28, 128});  // channels-last
  REQUIRE(conv.out_shape(Shape{1, 1, 1, 64}) == Shape{1, 1, 1, 128});
  try {
    conv.out_shape(Shape{4, 56, 56, 32});
    FAIL("no exception");
  } catch (const InputError& e) {
    const std::string m = e.what();
    CHECK(m.find("[4, 56, 56, 32]") != std::string::npos);
    CHECK(m.find("64") != std::string::npos);
    CHECK(m.find("layer2.0.conv1") != std::string::npos);
  }
  Conv2d c7("conv1", 3, 64, 7, 2, 3, false);
  REQUIRE(c7.out_shape(Shape{2, 224, 224, 3}) == Shape{2, 112, 112, 64});
  REQUIRE_THROWS_AS(Conv2d("c", 3, 4, 7, 1, 0, false).out_shape(Shape{1, 6, 9, 3}), InputError);
  REQUIRE_THROWS_AS(conv.out_shape(Shape{64, 56, 56}), InputError);
  Context ctx;
  REQUIRE_THROWS_AS(conv.forward(ctx, make_var(Tensor(Shape{1, 3, 8, 8}))), InputError);

  BatchNorm2d bn("bn1", 64);
  REQUIRE(bn.out_shape(Shape{2, 3, 3, 64}) == Shape{2, 3, 3, 64});
  REQUIRE_THROWS_AS(bn.out_shape(Shape{2, 3, 3, 63}), InputError);
  MaxPool2d pool;
  REQUIRE(pool.out_shape(Shape{2, 112, 112, 64}) == Shape{2, 56, 56, 64});
  REQUIRE(pool.out_shape(Shape{2, 7, 7, 64}) == Shape{2, 4, 4, 64});
  REQUIRE(pool.out_shape(Shape{1, 1, 1, 1}) == Shape{1, 1, 1, 1});
  REQUIRE_THROWS_AS(pool.out_shape(Shape{2, 64, 112}), InputError);
  REQUIRE_THROWS_AS((MaxPool2d{3, 2, 2}).out_shape(Shape{1, 1, 8, 8}), InputError);
  Linear fc("fc", 512, 2);
  REQUIRE(fc.out_shape(Shape{8, 512}) == Shape{8, 2});
  try {
    fc.out_shape(Shape{8, 256});
    FAIL("no exception");
  } catch (const InputError& e) {
    const std::string m = e.what();
    CHECK(m.find("[8, 256]") != std::string::npos);
    CHECK(m.find("512") != std::string::npos);
  }
  REQUIRE_THROWS_AS(add(ctx, make_var(Tensor(Shape{1, 2})), make_var(Tensor(Shape{2, 1}))), InputError);
  REQUIRE_THROWS_AS(global_avg_pool(ctx, make_var(Tensor(Shape{2, 3}))), InputError);
  std::printf("gradcheck: worst error over all layers %.2e\n", g_worst);
}

TEST_CASE("conv_bn_eval (BN folded into the convolution) equals conv, BN, add and ReLU") {
  Rng rng(11);
  for (bool bias : {false, true}) {
    Conv2d conv("layer2.0.conv2", 5, 18, 3, 2, 1, bias);
    BatchNorm2d bn("layer2.0.bn2", 18);
    randomize_conv_bn(conv, bn, rng, 0.4f);
    VarPtr x = make_var(randn(Shape{2, 9, 7, 5}, rng));
    VarPtr res = make_var(randn(Shape{2, 5, 4, 18}, rng));
    Context eval;
    for (int fused = 0; fused < 2; ++fused) {
      const VarPtr r = fused ? res : nullptr;
      const Tensor expect = bn.forward(eval, conv.forward(eval, x), r, fused == 1)->value;
      const Tensor got = conv_bn_eval(eval, conv, bn, x, r, fused == 1)->value;
      REQUIRE(got.shape() == expect.shape());
      const float err = max_abs_diff(got, expect);
      INFO("bias " << bias << " residual+relu " << fused << " max abs diff " << err);
      CHECK(err < 1e-5f * (1.f + max_abs(expect)));
    }
  }
  Tape tape;
  Context train{&tape, true};
  Conv2d conv("c", 3, 4, 3, 1, 1, false);
  BatchNorm2d bn("b", 4);
  REQUIRE_THROWS(conv_bn_eval(train, conv, bn, make_var(Tensor(Shape{1, 4, 4, 3})), nullptr, true));
}

// A residual that dies with the add (residual_dies, held by nothing else) takes the output in its
// place, on Winograd and on the packed direct path; a residual that is the convolution's own
// input never does (its tiles still read it), and either way the values are conv, BN, add, ReLU.
TEST_CASE("conv_bn_eval writes over a dying residual, never over its own input") {
  Rng rng(14);
  const WinogradMode before = winograd_mode();
  force_winograd_mode(WinogradMode::on);
  for (const int k : {3, 1}) {  // Winograd; a 1x1 on the packed direct path
    Conv2d conv("layer1.0.conv2", 32, 32, k, 1, k / 2, false);
    BatchNorm2d bn("layer1.0.bn2", 32);
    randomize_conv_bn(conv, bn, rng, 0.3f);
    for (const bool own_input : {false, true}) {
      Context eval;
      VarPtr x = make_var(randn(Shape{2, 8, 8, 32}, rng));
      VarPtr res = own_input ? x : make_var(randn(Shape{2, 8, 8, 32}, rng));
      const Tensor expect = bn.forward(eval, conv.forward(eval, x), res, true)->value.clone();
      const float* res_data = res->value.data();
      const int64_t over0 = residuals_written_over();
      const Tensor got = conv_bn_eval(eval, conv, bn, x, res, true, {}, true)->value;
      const int64_t over = residuals_written_over() - over0;
      INFO(k << "x" << k << ", residual is the input " << own_input);
      CHECK(max_abs_diff(got, expect) < 1e-5f * (1.f + max_abs(expect)));
      if (reference_kernels()) continue;  // no packed weights there: never in place
      CHECK(over == (own_input ? 0 : 1));
      CHECK((got.data() == res_data) == !own_input);
    }
  }
  force_winograd_mode(before);
}

// At bf16 with Winograd on, conv_bn_eval folds the BN's scale into the F(2x2) filters before
// rounding them and adds the folded bias, residual and ReLU in the output transform: the same
// layer as conv, BN, add and ReLU in fp32, within bf16's rounding.
// Tagged [bf16]: its own ctest (test_layers_gradcheck_bf16), reported skipped without AVX512-BF16.
TEST_CASE("conv_bn_eval at bf16 by Winograd F(2x2) equals conv, BN, add and ReLU within bf16 rounding", "[bf16]") {
  if (!has_bf16_kernels()) {
    WARN("not run: CPU lacks AVX512-BF16");
    return;
  }
  Rng rng(13);
  Conv2d conv("layer2.1.conv2", 24, 40, 3, 1, 1, true);
  BatchNorm2d bn("layer2.1.bn2", 40);
  randomize_conv_bn(conv, bn, rng, 0.3f);
  VarPtr x = make_var(randn(Shape{2, 9, 11, 24}, rng));
  VarPtr res = make_var(randn(Shape{2, 9, 11, 40}, rng));
  Context fp32, bf16;
  bf16.precision = Precision::bf16;
  const WinogradMode before = winograd_mode();
  force_winograd_mode(WinogradMode::on);
  std::vector<ConvAlgoUse> log;
  set_conv_algo_log(&log);
  const Tensor got = conv_bn_eval(bf16, conv, bn, x, res, true)->value;
  set_conv_algo_log(nullptr);
  force_winograd_mode(before);
  const Tensor expect = bn.forward(fp32, conv.forward(fp32, x), res, true)->value;
  REQUIRE(log.size() == 1);
  CHECK(log[0].algo == "bf16-winograd");
  const float err = max_abs_diff(got, expect);
  INFO("max abs diff " << err << ", max |expect| " << max_abs(expect));
  CHECK(err < 0.03f * (1.f + max_abs(expect)));  // bf16 operands: ~2^-8 relative per product
  CHECK(err > 0);                                // it did run in bf16
}

// conv_bn_eval caches the packed weights with the BN folded in (bf16, int8, Winograd) under a
// fingerprint of the weights and the BN: after an optimizer-like step on the weights, or a
// change to the BN's statistics, its output must be a fresh layer's, not the cache's.
TEST_CASE("conv_bn_eval's cached folded weights follow changes to the weights and the BN") {
  Rng rng(12);
  auto make = [&](Conv2d& conv, BatchNorm2d& bn) {
    conv = Conv2d("layer1.0.conv1", 32, 32, 3, 1, 1, false);
    bn = BatchNorm2d("layer1.0.bn1", 32);
    conv.int8_act_max = 4.0f;  // so int8 runs where the CPU has it
  };
  Conv2d conv;
  BatchNorm2d bn;
  make(conv, bn);
  randomize(conv.weight, rng, 0.2f);
  randomize(bn.weight, rng, 0.3f, 1.f);
  for (int64_t c = 0; c < 32; ++c) bn.running_var.value[c] = 0.5f + (float)rng.uniform();
  Tensor xt = randn(Shape{2, 12, 12, 32}, rng);
  for (int64_t i = 0; i < xt.numel(); ++i) xt[i] = std::max(0.0f, xt[i]);  // post-ReLU, as int8 expects
  const VarPtr x = make_var(xt);
  std::vector<Precision> precisions{Precision::fp32};
  if (has_bf16_kernels()) precisions.push_back(Precision::bf16);
  if (has_vnni_kernels()) precisions.push_back(Precision::int8);
  for (Precision p : precisions) {
    Context ctx;
    ctx.precision = p;
    // A layer with no cache and conv's current values: what conv_bn_eval must give.
    auto fresh = [&] {
      Conv2d c2;
      BatchNorm2d b2;
      make(c2, b2);
      std::copy(conv.weight.value.data(), conv.weight.value.data() + conv.weight.value.numel(), c2.weight.value.data());
      for (auto [dst, src] : {std::pair{&b2.weight, &bn.weight}, {&b2.bias, &bn.bias}})
        std::copy(src->value.data(), src->value.data() + src->value.numel(), dst->value.data());
      for (auto [dst, src] : {std::pair{&b2.running_mean, &bn.running_mean}, {&b2.running_var, &bn.running_var}})
        std::copy(src->value.data(), src->value.data() + src->value.numel(), dst->value.data());
      return conv_bn_eval(ctx, c2, b2, x, nullptr, true)->value;
    };
    const Tensor before = conv_bn_eval(ctx, conv, bn, x, nullptr, true)->value;
    CHECK(max_abs_diff(before, fresh()) == 0);
    for (int64_t i = 0; i < conv.weight.value.numel(); ++i) conv.weight.value[i] *= 1.01f;  // a step
    const Tensor stepped = conv_bn_eval(ctx, conv, bn, x, nullptr, true)->value;
    CHECK(max_abs_diff(stepped, before) > 0);
    CHECK(max_abs_diff(stepped, fresh()) == 0);
    bn.running_var.value[17] *= 2.0f;  // one statistic
    const Tensor restat = conv_bn_eval(ctx, conv, bn, x, nullptr, true)->value;
    CHECK(max_abs_diff(restat, stepped) > 0);
    CHECK(max_abs_diff(restat, fresh()) == 0);
  }
}
