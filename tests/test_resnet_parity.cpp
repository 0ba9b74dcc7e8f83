// PyTorch parity of ResNet-18 (and one ResNet-50 Bottleneck block) against the fixtures of
// scripts/gen_fixtures.py: forward logits, loss, every parameter gradient, BN running statistics
// after a training step and eval-mode logits (each with the direct convolution, the per-layer choice and all-Winograd
// 3x3 stride-1 convolutions, in training their forward, weight-gradient and backward-data passes); train/eval
// logits of whole ResNet-34 and ResNet-50; the state_dict names and shapes of resnet18/34/50 and torchvision's
// initialisation. (The losses over 3 Adam / SGD steps are in test_optimizer.) Relative error of a tensor = max|ours -
// torch| / max|torch| over the tensor (over the stored samples for large gradients, whose L2 norm, max |g| and sum are
// also checked; the sum's error is taken relative to the L1 norm). Limits: forward <= 1e-4, gradients <= 1e-3.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <map>

#include "base/error.h"
#include "engine/kernels/conv_tuning.h"
#include "engine/kernels/conv_winograd.h"
#include "layers/resnet.h"
#include "test_util.h"

using namespace ds;
using namespace ds::test;

namespace {

constexpr double kForwardTol = 1e-4;
constexpr double kGradTol = 1e-3;

const Fixtures& fixtures() { return parity_fixtures(); }

// Training-step and eval-mode parity run with the direct convolution only, the per-layer choice,
// and Winograd on every 3x3 stride-1 convolution (engine/kernels/conv_winograd.h).
constexpr WinogradMode kWinogradModes[] = {WinogradMode::off, WinogradMode::aut, WinogradMode::on};
const char* mode_name(WinogradMode m) { return m == WinogradMode::off ? "off" : m == WinogradMode::on ? "on" : "auto"; }

double scalar_rel(double ours, double ref) { return std::fabs(ours - ref) / std::fabs(ref); }

}  // namespace

TEST_CASE("the C++ weight formula reproduces the generator's values") {
  const auto& fx = fixtures();
  for (const char* model : {"resnet18", "bottleneck", "resnet34", "resnet50"}) {
    const int64_t fc_in = fx.doc["models"][model].value("fc_in", int64_t{0});
    for (const auto& e : fx.doc["models"][model]["tensors"]) {
      const std::string name = e["name"].get<std::string>();
      Tensor t(Shape(e["shape"].get<std::vector<int64_t>>()));
      fill_formula(t, name, e["stream"].get<uint64_t>(), fc_in);
      const auto first = e["first"].get<std::vector<double>>();
      for (size_t i = 0; i < first.size(); ++i) {
        INFO(name << "[" << i << "]");
        REQUIRE((double)t[(int64_t)i] == first[i]);
      }
      double sum = 0;
      for (int64_t i = 0; i < t.numel(); ++i) sum += t[i];
      const double ref = e["value_sum"].get<double>();
      INFO(name);
      REQUIRE(std::fabs(sum - ref) <= 1e-9 * std::max(1.0, std::fabs(ref)));
    }
  }
}

TEST_CASE("arch names parse and bad inputs are rejected with the shape named") {
  REQUIRE(parse_arch("resnet18") == Arch::resnet18);
  REQUIRE(parse_arch("resnet34") == Arch::resnet34);
  REQUIRE(parse_arch("resnet50") == Arch::resnet50);
  REQUIRE(arch_name(Arch::resnet50) == "resnet50");
  REQUIRE_THROWS_AS(parse_arch("resnet101"), InputError);
  REQUIRE_THROWS_WITH(parse_arch("vgg16"), Catch::Contains("vgg16"));

  ResNet net(Arch::resnet18, 4);
  REQUIRE(net.out_shape(Shape{2, 3, 28, 28}) == (Shape{2, 4}));
  REQUIRE(net.out_shape(Shape{1, 3, 224, 224}) == (Shape{1, 4}));
  REQUIRE(net.out_shape(Shape{1, 3, 37, 61}) == (Shape{1, 4}));
  REQUIRE_THROWS_AS(net.out_shape(Shape{2, 3, 27, 64}), InputError);
  REQUIRE_THROWS_WITH(net.out_shape(Shape{2, 3, 27, 64}), Catch::Contains("[2, 3, 27, 64]"));
  REQUIRE_THROWS_WITH(net.out_shape(Shape{2, 1, 64, 64}), Catch::Contains("[2, 1, 64, 64]"));
  REQUIRE_THROWS_WITH(net.out_shape(Shape{3, 64, 64}), Catch::Contains("[3, 64, 64]"));
  REQUIRE_THROWS_AS(net.out_shape(Shape{2, 3, 64, 20}), InputError);
  Context ctx;
  REQUIRE_THROWS_AS(net.forward(ctx, make_var(Tensor(Shape{1, 3, 16, 16}))), InputError);
  REQUIRE_THROWS_AS(ResNet(Arch::resnet18, 0), InputError);
}

TEST_CASE("resnet18/34/50 have torchvision's state_dict names, order and shapes") {
  const auto& fx = fixtures();
  for (const char* arch_str : {"resnet18", "resnet34", "resnet50"}) {
    const auto& a = fx.doc["archs"][arch_str];
    const int classes = a["classes"].get<int>();
    ResNet net(parse_arch(arch_str), classes);  // no random init: only the topology matters here
    REQUIRE(net.num_classes() == classes);
    REQUIRE(net.out_shape(Shape{2, 3, 64, 64}) == (Shape{2, classes}));
    const ParamSet& ps = net.params();
    std::vector<std::pair<std::string, Shape>> want_p, want_b, got_p, got_b;
    for (const auto& e : a["tensors"]) {
      auto entry = std::make_pair(e[0].get<std::string>(), Shape(e[1].get<std::vector<int64_t>>()));
      (e[2].get<bool>() ? want_p : want_b).push_back(entry);
    }
    for (Param* p : ps.params) got_p.emplace_back(p->name, file_shape(*p));  // PyTorch layout
    for (Buffer* b : ps.buffers) got_b.emplace_back(b->name, b->value.shape());
    INFO(arch_str);
    REQUIRE(got_p.size() == want_p.size());
    REQUIRE(got_b.size() == want_b.size());
    for (size_t i = 0; i < want_p.size(); ++i) {
      INFO("param " << i << ": " << got_p[i].first << " " << got_p[i].second.str() << " vs torch " << want_p[i].first
                    << " " << want_p[i].second.str());
      REQUIRE(got_p[i] == want_p[i]);
    }
    for (size_t i = 0; i < want_b.size(); ++i) {
      INFO("buffer " << i << ": " << got_b[i].first << " vs torch " << want_b[i].first);
      REQUIRE(got_b[i] == want_b[i]);
    }
    std::printf("%s: %zu params, %zu buffers match torchvision's names and shapes\n", arch_str, got_p.size(),
                got_b.size());
  }
}

namespace {

// Number of elements of t that differ from v.
int64_t count_not(const Tensor& t, float v) {
  int64_t n = 0;
  for (int64_t i = 0; i < t.numel(); ++i) n += t[i] != v;
  return n;
}

}  // namespace

TEST_CASE("resnet initialisation follows torchvision") {
  // torchvision: conv kaiming_normal(fan_out, relu), BN weight 1 / bias 0, fc
  // U(-1/sqrt(in), 1/sqrt(in)), running mean 0 / var 1. Normal draws are checked by statistics.
  // The init loop is the same for every arch (it dispatches on the tensor, not the block type).
  Rng rng(3);
  ResNet net(Arch::resnet18, 5, rng);
  const float fc_bound = 1.0f / std::sqrt(512.0f);
  {
    for (Param* p : net.params().params) {
      const Tensor& t = p->value;
      INFO(p->name);
      if (p->name.rfind("fc.", 0) == 0) {
        REQUIRE(max_abs(t) <= fc_bound);
        REQUIRE(max_abs(t) > 0.5f * fc_bound);
      } else if (t.dim() == 4) {
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < t.numel(); ++i) {
          sum += t[i];
          sq += (double)t[i] * t[i];
        }
        const double n = (double)t.numel();
        const Shape fs = file_shape(*p);  // [OC, C, KH, KW]
        const double want_std = std::sqrt(2.0 / (double)(fs[0] * fs[2] * fs[3]));
        REQUIRE(std::fabs(sum / n) < 5 * want_std / std::sqrt(n));
        REQUIRE(std::sqrt(sq / n) == Approx(want_std).epsilon(n >= 4096 ? 0.05 : 0.15));
      } else {
        REQUIRE(count_not(t, p->name.ends_with(".weight") ? 1.0f : 0.0f) == 0);
      }
      REQUIRE(count_not(p->grad, 0.0f) == 0);
    }
    for (Buffer* b : net.params().buffers) {
      INFO(b->name);
      REQUIRE(count_not(b->value, b->name.ends_with("running_var") ? 1.0f : 0.0f) == 0);
    }
  }
  // The no-init constructor leaves weights at zero.
  ResNet z(Arch::resnet18, 2);
  REQUIRE(max_abs(z.params().params.front()->value) == 0.0f);
  REQUIRE(max_abs(z.params().params.back()->value) == 0.0f);
}

TEST_CASE("a seed draws convolution weights in PyTorch's element order") {
  // The draws fill [OC, C, KH, KW] in order whatever the layout in memory, so a seed gives the
  // same network as before the weights were held [KH, KW, C, OC].
  Rng rng(42), replay(42);
  ResNet net(Arch::resnet18, 3, rng);
  const Param& conv1 = *net.params().params.front();
  REQUIRE(conv1.name == "conv1.weight");
  const float std = (float)std::sqrt(2.0 / (64.0 * 7 * 7));
  const Tensor file = to_file_layout(conv1, conv1.value);
  REQUIRE(file.shape() == Shape{64, 3, 7, 7});
  for (int64_t i = 0; i < file.numel(); ++i) REQUIRE(file[i] == replay.normal(0.0f, std));
}

namespace {

// One training step of the fixture's ResNet-18 with the convolutions' forward, weight-gradient and
// backward-data passes as mode picks them, against PyTorch's.
void check_train_step(WinogradMode mode) {
  const auto& fx = fixtures();
  force_winograd_mode(mode);
  ParityResNet18 m;
  VarPtr input, logits;
  std::vector<ConvAlgoUse> algos;
  set_conv_algo_log(&algos);
  VarPtr loss = m.train_step(input, logits);
  set_conv_algo_log(nullptr);
  force_winograd_mode(WinogradMode::aut);
  // Passes by Winograd: forward, backward data, weight gradients; and how many backward passes.
  int64_t winograd = 0, bwd = 0, bwd_winograd = 0, wgrad = 0, wgrad_winograd = 0;
  for (const ConvAlgoUse& u : algos) {
    const bool backward = u.layer.ends_with("/bwd_data"), weights = u.layer.ends_with("/bwd_weights");
    winograd += !backward && !weights && u.algo == "winograd";
    bwd += backward;
    bwd_winograd += backward && u.algo == "winograd";
    wgrad += weights;
    wgrad_winograd += weights && u.algo == "winograd";
  }
  // 64 px, batch 2: all 13 stride-1 3x3 convolutions when on, in every pass; auto, by the rules
  // (no tuning file with choices), picks layer1's 4 (16x16 maps, 32 tiles) and leaves the smaller
  // maps direct.
  REQUIRE(algos.size() == 60);
  CHECK(bwd == 20);  // the input's gradient is checked too
  CHECK(wgrad == 20);
  if (mode != WinogradMode::aut) CHECK(winograd == (mode == WinogradMode::on ? 13 : 0));
  if (mode != WinogradMode::aut) CHECK((bwd_winograd == winograd && wgrad_winograd == winograd));
  if (mode == WinogradMode::aut && conv_tuning_state().winograd.empty())
    CHECK((winograd == 4 && bwd_winograd == 4 && wgrad_winograd == 4));

  const double e_logits = rel_err(logits->value, fx.get("r18.train.logits"));
  const double e_loss = scalar_rel(loss->value[0], fx.get("r18.train.loss")[0]);
  std::printf(
      "resnet18 train (winograd %s: %lld forward, %lld backward data, %lld weight gradients): logits rel err %.3g, "
      "loss rel err %.3g (loss %.7f)\n",
      mode_name(mode), (long long)winograd, (long long)bwd_winograd, (long long)wgrad_winograd, e_logits, e_loss,
      loss->value[0]);
  CHECK(e_logits <= kForwardTol);
  CHECK(e_loss <= kForwardTol);

  const auto& meta = fx.doc["models"]["resnet18"];
  std::map<std::string, Param*> params;
  std::map<std::string, Buffer*> buffers;
  for (Param* p : m.net.params().params) params[p->name] = p;
  for (Buffer* b : m.net.params().buffers) buffers[b->name] = b;

  double worst_grad = 0, worst_buf = 0;
  std::string worst_grad_name, worst_buf_name;
  SampledCompare gin = compare_sampled(fx, "r18.grad.input", input->grad, meta["input_stream"].get<uint64_t>());
  std::printf("resnet18 grad input: rel err %.3g (elements %.3g, l2 %.3g, sum %.3g, max %.3g)\n", gin.worst(), gin.elem,
              gin.l2, gin.sum, gin.maxabs);
  CHECK(gin.worst() <= kGradTol);
  for (const auto& e : meta["tensors"]) {
    const std::string name = e["name"].get<std::string>();
    const uint64_t stream = e["stream"].get<uint64_t>();
    if (e["param"].get<bool>()) {
      const Param* p = params.at(name);
      SampledCompare c = compare_sampled(fx, "r18.grad." + name, to_file_layout(*p, p->grad), stream);
      std::printf("  grad %-28s rel err %.3g (elements %.3g, l2 %.3g, sum %.3g, max %.3g)\n", name.c_str(), c.worst(),
                  c.elem, c.l2, c.sum, c.maxabs);
      INFO("grad " << name);
      CHECK(c.worst() <= kGradTol);
      if (c.worst() >= worst_grad) worst_grad = c.worst(), worst_grad_name = name;
    } else {
      SampledCompare c = compare_sampled(fx, "r18.after_step." + name, buffers.at(name)->value, stream);
      INFO("buffer " << name);
      CHECK(c.worst() <= kForwardTol);
      if (c.worst() >= worst_buf) worst_buf = c.worst(), worst_buf_name = name;
    }
  }
  std::printf("resnet18 (winograd %s): max gradient rel err %.3g (%s), max running-stat rel err %.3g (%s)\n",
              mode_name(mode), worst_grad, worst_grad_name.c_str(), worst_buf, worst_buf_name.c_str());
}

}  // namespace

TEST_CASE("resnet18 training step matches PyTorch: logits, loss, gradients, running stats") {
  for (const WinogradMode mode : kWinogradModes) {
    INFO("winograd " << mode_name(mode));
    check_train_step(mode);
  }
}

TEST_CASE("resnet18 eval-mode logits match PyTorch") {
  ParityResNet18 m;
  for (const WinogradMode mode : kWinogradModes) {
    force_winograd_mode(mode);
    Context ctx;  // no tape, eval mode: running statistics
    const int64_t over0 = residuals_written_over();
    VarPtr logits = m.net.forward(ctx, make_var(m.x.clone()));
    const double e = rel_err(logits->value, fixtures().get("r18.eval.logits"));
    std::printf("resnet18 eval (winograd %s): logits rel err %.3g, %lld outputs over their residual\n", mode_name(mode),
                e, (long long)(residuals_written_over() - over0));
    CHECK(e <= kForwardTol);
    // With Winograd on, every block's conv2 (3x3 stride 1) writes its output over the block's input
    // or its downsample's output, which die with the add (the kernels' in-place residual); not in
    // reference mode, whose kernels have no packed weights.
    if (mode == WinogradMode::on && !reference_kernels()) CHECK(residuals_written_over() - over0 == 8);
  }
  force_winograd_mode(WinogradMode::aut);
}

// Train-mode BN over few values per channel makes deep nets ill-conditioned, so these are
// also compared with PyTorch's float64 result (key@f64); torch's own float32 error is printed.
TEST_CASE("resnet34 and resnet50 train- and eval-mode logits match PyTorch") {
  const auto& fx = fixtures();
  for (const char* arch : {"resnet34", "resnet50"}) {
    const auto& m = fx.doc["models"][arch];
    ResNet net(parse_arch(arch), m["classes"].get<int>());
    load_formula(fx, arch, net.params(), m["fc_in"].get<int64_t>());
    const Tensor x =
        formula_tensor(Shape(m["input_shape"].get<std::vector<int64_t>>()), m["input_stream"].get<uint64_t>());
    const std::string key = arch == std::string("resnet34") ? "r34" : "r50";
    // Eval first, once per Winograd mode: a train-mode pass updates running stats.
    for (const int pass : {0, 1, 2, 3}) {
      const bool training = pass == 3;
      const WinogradMode mode = kWinogradModes[pass % 3];
      force_winograd_mode(mode);
      Context ctx{nullptr, training};  // no tape; train mode uses batch statistics
      const int64_t over0 = residuals_written_over();
      const Tensor ours = net.forward(ctx, make_var(x.clone()))->value;
      // Inference writes each block's last convolution over its dying residual where the kernel
      // can: ResNet-50's (1x1, packed) always, ResNet-34's with Winograd on; training never.
      const int64_t over = residuals_written_over() - over0;
      if (training) CHECK(over == 0);
      else if (!reference_kernels() && (key == std::string("r50") || mode == WinogradMode::on)) CHECK(over == 16);
      const std::string k = key + (training ? ".train" : ".eval") + ".logits";
      const double e32 = rel_err(ours, fx.get(k)), e64 = rel_err(ours, fx.get(k + "@f64"));
      std::printf("%s %s logits (winograd %s): rel err vs torch f32 %.3g, vs torch f64 %.3g (torch f32 vs f64 %.3g)\n",
                  arch, training ? "train-mode" : "eval", mode_name(mode), e32, e64,
                  rel_err(fx.get(k), fx.get(k + "@f64")));
      INFO(arch << (training ? " train" : " eval") << " winograd " << mode_name(mode));
      CHECK(e32 <= kForwardTol);
      CHECK(e64 <= kForwardTol);
    }
    force_winograd_mode(WinogradMode::aut);
  }
}

TEST_CASE("resnet50 bottleneck block (stride 2, downsample) matches PyTorch") {
  const auto& fx = fixtures();
  const auto& meta = fx.doc["models"]["bottleneck"];
  const auto& args = meta["args"];
  auto make = [&] {
    auto b = std::make_unique<Bottleneck>("", args["inplanes"].get<int64_t>(), args["planes"].get<int64_t>(),
                                          args["stride"].get<int64_t>());
    REQUIRE(b->has_downsample);
    ParamSet ps;
    b->collect(ps);
    load_formula(fx, "bottleneck", ps);
    return std::make_pair(std::move(b), ps);
  };
  const Shape in_shape(meta["input_shape"].get<std::vector<int64_t>>());
  const Tensor x = formula_tensor(in_shape, meta["input_stream"].get<uint64_t>());

  auto [blk, ps] = make();
  // Names and order as torchvision's standalone Bottleneck state_dict.
  std::vector<std::string> want_p, got_p;
  for (const auto& e : meta["tensors"])
    if (e["param"].get<bool>()) want_p.push_back(e["name"].get<std::string>());
  for (Param* p : ps.params) got_p.push_back(p->name);
  REQUIRE(got_p == want_p);

  // The fixture is NCHW as PyTorch's; the block runs channels-last between the conversions.
  Tape tape;
  Context ctx{&tape, true};
  VarPtr input = make_var(x.clone());
  VarPtr out = to_channels_first(ctx, blk->forward(ctx, to_channels_last(ctx, input)));
  const Shape nhwc_in{in_shape[0], in_shape[2], in_shape[3], in_shape[1]};
  const Shape o = blk->out_shape(nhwc_in);
  REQUIRE(Shape{o[0], o[3], o[1], o[2]} == out->value.shape());
  // loss = sum(out * w): a weighted-sum node seeds d_out = w.
  const Tensor w = formula_tensor(out->value.shape(), meta["out_weight_stream"].get<uint64_t>());
  VarPtr loss = make_var(Tensor(Shape{1}));
  for (int64_t i = 0; i < w.numel(); ++i) loss->value[0] += out->value[i] * w[i];
  tape.push([out, loss, w] {
    Tensor& d_out = out->ensure_grad();
    for (int64_t i = 0; i < w.numel(); ++i) d_out[i] += w[i] * loss->grad[0];
  });
  tape.backward(loss);

  const double e_out = rel_err(out->value, fx.get("block.train.out"));
  const double e_din = rel_err(input->grad, fx.get("block.grad.input"));
  std::printf("bottleneck: out rel err %.3g, grad input rel err %.3g\n", e_out, e_din);
  CHECK(e_out <= kForwardTol);
  CHECK(e_din <= kGradTol);
  std::map<std::string, Param*> params;
  std::map<std::string, Buffer*> buffers;
  for (Param* p : ps.params) params[p->name] = p;
  for (Buffer* b : ps.buffers) buffers[b->name] = b;
  double worst_grad = 0, worst_buf = 0;
  for (const auto& e : meta["tensors"]) {
    const std::string name = e["name"].get<std::string>();
    if (e["param"].get<bool>()) {
      const Param* p = params.at(name);
      const double err = rel_err(to_file_layout(*p, p->grad), fx.get("block.grad." + name));
      INFO("grad " << name);
      CHECK(err <= kGradTol);
      worst_grad = std::max(worst_grad, err);
    } else {
      const double err = rel_err(buffers.at(name)->value, fx.get("block.after_step." + name));
      INFO("buffer " << name);
      CHECK(err <= kForwardTol);
      worst_buf = std::max(worst_buf, err);
    }
  }
  std::printf("bottleneck: max parameter-gradient rel err %.3g, max running-stat rel err %.3g\n", worst_grad,
              worst_buf);

  auto [eval_blk, eval_ps] = make();
  Context eval_ctx;
  const VarPtr eval_out =
      to_channels_first(eval_ctx, eval_blk->forward(eval_ctx, to_channels_last(eval_ctx, make_var(x.clone()))));
  const double e_eval = rel_err(eval_out->value, fx.get("block.eval.out"));
  std::printf("bottleneck eval: out rel err %.3g\n", e_eval);
  CHECK(e_eval <= kForwardTol);
}
