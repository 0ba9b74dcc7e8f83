// Training actually learns: a small conv net (the ResNet layers: conv, BN, ReLU, max-pool,
// global average pool, linear) trained with Adam + ExponentialLR on a synthetic two-class
// problem (a horizontal vs a vertical bright line at a random position, in noise) must drive the
// loss below half its start and classify held-out images; and ResNet-18 itself must fit a fixed
// batch in a few Adam steps.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>

#include "base/rng.h"
#include "layers/layers.h"
#include "layers/resnet.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"

using namespace ds;

namespace {

// N images [N, 3, S, S]: label 0 a horizontal line, label 1 a vertical line, random row/column
// and colour, Gaussian noise (std 0.3) everywhere.
void make_batch(Rng& rng, int64_t N, int64_t S, Tensor& x, std::vector<int>& labels) {
  x = Tensor(Shape{N, 3, S, S});
  labels.assign((size_t)N, 0);
  for (int64_t n = 0; n < N; ++n) {
    const int label = (int)rng.uniform_int(2);
    labels[(size_t)n] = label;
    const int64_t at = 1 + (int64_t)rng.uniform_int((uint64_t)(S - 2));
    for (int64_t c = 0; c < 3; ++c) {
      const float level = rng.uniform(0.8f, 1.5f);
      float* img = x.data() + (n * 3 + c) * S * S;
      for (int64_t i = 0; i < S * S; ++i) img[i] = rng.normal(0.0f, 0.3f);
      for (int64_t t = 0; t < S; ++t) img[label == 0 ? at * S + t : t * S + at] += level;
    }
  }
}

struct TinyNet {
  Conv2d conv1{"conv1", 3, 8, 3, 1, 1, false};
  BatchNorm2d bn1{"bn1", 8};
  MaxPool2d pool;
  Conv2d conv2{"conv2", 8, 16, 3, 1, 1, false};
  BatchNorm2d bn2{"bn2", 16};
  Linear fc{"fc", 16, 2};
  ParamSet ps;

  explicit TinyNet(Rng& rng) {
    conv1.collect(ps);
    bn1.collect(ps);
    conv2.collect(ps);
    bn2.collect(ps);
    fc.collect(ps);
    for (Conv2d* c : {&conv1, &conv2}) {
      const float std = std::sqrt(2.0f / (float)(c->OC * c->KH * c->KW));
      for (int64_t i = 0; i < c->weight.value.numel(); ++i) c->weight.value[i] = rng.normal(0.0f, std);
    }
    const float bound = 1.0f / std::sqrt((float)fc.in);
    for (Param* p : {&fc.weight, &fc.bias})
      for (int64_t i = 0; i < p->value.numel(); ++i) p->value[i] = rng.uniform(-bound, bound);
  }

  VarPtr forward(Context& ctx, const VarPtr& x) {  // x: NCHW images, as make_batch gives
    VarPtr h = to_channels_last(ctx, x);
    h = pool.forward(ctx, relu(ctx, bn1.forward(ctx, conv1.forward(ctx, h))));
    h = relu(ctx, bn2.forward(ctx, conv2.forward(ctx, h)));
    return fc.forward(ctx, global_avg_pool(ctx, h));
  }
};

float accuracy(const Tensor& logits, const std::vector<int>& labels) {
  int right = 0;
  for (size_t n = 0; n < labels.size(); ++n) {
    const int pred = logits[(int64_t)n * 2 + 1] > logits[(int64_t)n * 2] ? 1 : 0;
    right += pred == labels[n];
  }
  return (float)right / (float)labels.size();
}

}  // namespace

TEST_CASE("a small conv net learns lines vs columns with Adam + ExponentialLR") {
  Rng rng(2024);
  TinyNet net(rng);
  AdamOptions o;
  o.lr = 1e-2;
  o.weight_decay = 1e-4;
  Adam opt(net.ps, o);
  ExponentialLR sched(opt, 0.9);
  const int epochs = 6, steps_per_epoch = 8;
  float first = 0, last_epoch_mean = 0;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    float sum = 0;
    for (int s = 0; s < steps_per_epoch; ++s) {
      Tensor x;
      std::vector<int> labels;
      make_batch(rng, 16, 16, x, labels);
      Tape tape;
      Context ctx{&tape, true};
      opt.zero_grad();
      VarPtr loss = softmax_cross_entropy(ctx, net.forward(ctx, make_var(x)), labels);
      tape.backward(loss);
      opt.step();
      const float l = loss->value[0];
      REQUIRE(std::isfinite(l));
      if (epoch == 0 && s == 0) first = l;
      sum += l;
    }
    last_epoch_mean = sum / steps_per_epoch;
    std::printf("tiny net epoch %d: lr %.5f mean loss %.4f\n", epoch, opt.lr(), last_epoch_mean);
    sched.step();
  }
  Tensor x;
  std::vector<int> labels;
  make_batch(rng, 64, 16, x, labels);
  Context eval;
  const float acc = accuracy(net.forward(eval, make_var(x))->value, labels);
  std::printf("tiny net: first loss %.4f, last-epoch mean %.4f, held-out accuracy %.3f\n", first, last_epoch_mean, acc);
  CHECK(last_epoch_mean < 0.5f * first);
  CHECK(acc >= 0.9f);
  REQUIRE(opt.step_count() == epochs * steps_per_epoch);
  REQUIRE(sched.epoch() == epochs);
}

TEST_CASE("resnet18 fits a fixed 28x28 batch in a few Adam steps") {
  Rng rng(5);
  ResNet net(Arch::resnet18, 2, rng);
  Tensor x;
  std::vector<int> labels;
  make_batch(rng, 4, 28, x, labels);
  AdamOptions o;  // DeepSlide's defaults: lr 1e-3, weight decay 1e-4
  o.weight_decay = 1e-4;
  Adam opt(net.params(), o);
  std::vector<float> losses;
  for (int s = 0; s < 4; ++s) {
    Tape tape;
    Context ctx{&tape, true};
    opt.zero_grad();
    VarPtr loss = softmax_cross_entropy(ctx, net.forward(ctx, make_var(x)), labels);
    tape.backward(loss);
    opt.step();
    losses.push_back(loss->value[0]);
  }
  std::printf("resnet18 fixed batch losses: %.4f %.4f %.4f %.4f\n", losses[0], losses[1], losses[2], losses[3]);
  CHECK(losses.back() < 0.5f * losses.front());
}
