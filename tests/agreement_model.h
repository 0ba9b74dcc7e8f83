// A ResNet-18 whose reduced-precision predictions can be compared with fp32's, for test_bf16 and
// test_int8: torchvision's initialisation, BatchNorms given random scales and shifts and a
// batch's statistics (so folding them matters), K classes; B 8-bit images of P x P with smooth
// colour structure plus noise, normalized. (No torchvision checkpoint is available offline; random weights are the
// harder case for reduced precision, as nothing was trained to be robust to rounding.)
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "base/rng.h"
#include "layers/resnet.h"
#include "weights/model.h"
#include "weights/model_forward.h"

namespace ds::test {

struct AgreementFixture {
  Model model;
  Tensor x;  // [B, 3, P, P]
};

inline AgreementFixture agreement_fixture(int K, int B = 256) {
  const int P = 64;
  std::vector<std::string> classes;
  for (int k = 0; k < K; ++k) classes.push_back("c" + std::to_string(k));
  Model model = make_model(Arch::resnet18, classes, 11, P);
  Rng rng(12);
  for (Param* p : model.net->params().params)
    if (p->value.dim() == 1 && p->name.rfind("fc.", 0) != 0) {
      const bool weight = p->name.ends_with(".weight");
      for (int64_t i = 0; i < p->value.numel(); ++i)
        p->value[i] = weight ? 1.0f + 0.25f * rng.uniform(-1, 1) : 0.1f * rng.uniform(-1, 1);
    }
  Tensor x = Tensor::empty(Shape{B, 3, P, P});
  for (int n = 0; n < B; ++n)
    for (int c = 0; c < 3; ++c) {
      const float a = rng.normal(), fx = rng.uniform(0, 0.3f), fy = rng.uniform(0, 0.3f), ph = rng.uniform(0, 6.3f);
      for (int i = 0; i < P; ++i)
        for (int j = 0; j < P; ++j)
          x[((int64_t)(n * 3 + c) * P + i) * P + j] = a * std::sin(fx * j + fy * i + ph) + 0.5f * rng.normal();
    }
  // As 8-bit images (what the network sees in use: conv1's int8 codes are the pixels): each value
  // v taken as v / 2 standard deviations from the mean, rounded to a pixel, normalized again.
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int c = (int)(i / (P * P) % 3);
    const float v = 255.0f * (model.mean[c] + model.std[c] * 0.5f * x[i]);
    const float pixel = std::nearbyint(std::clamp(v, 0.0f, 255.0f));
    x[i] = (pixel / 255.0f - model.mean[c]) / model.std[c];
  }
  // BN running statistics as training leaves them: the statistics of a batch (the first 64
  // patches), recovered from one training-mode pass, new = 0.9 old + 0.1 batch. Without this
  // the activations of an untrained net drift from layer to layer and its features barely
  // depend on the input, which no trained model does.
  {
    std::vector<std::vector<float>> old;
    for (Buffer* b : model.net->params().buffers) old.emplace_back(b->value.data(), b->value.data() + b->value.numel());
    Context ctx;
    ctx.training = true;
    Tensor xc = Tensor::from_data(Shape{64, 3, P, P}, x.data());
    model.net->forward(ctx, make_var(xc));
    size_t j = 0;
    for (Buffer* b : model.net->params().buffers) {
      for (int64_t i = 0; i < b->value.numel(); ++i) b->value[i] = (b->value[i] - 0.9f * old[j][(size_t)i]) / 0.1f;
      ++j;
    }
  }
  // A random head on untrained features predicts one class for everything (their mean dominates):
  // centre the head on this batch's fp32 features and scale its logits to a spread of about 2,
  // so the predictions vary and agreement means something.
  {
    Context ctx;
    const Tensor f = model.net->forward_features(ctx, make_var(x))->value;  // [B, 512, h, w]
    const int64_t C = f.size(1), hw = f.size(2) * f.size(3);
    std::vector<double> feat((size_t)(B * C)), mean((size_t)C);
    for (int n = 0; n < B; ++n)
      for (int64_t c = 0; c < C; ++c) {
        double s = 0;
        for (int64_t i = 0; i < hw; ++i) s += f[(n * C + c) * hw + i];
        feat[(size_t)(n * C + c)] = s / (double)hw;
        mean[(size_t)c] += s / (double)hw / B;
      }
    Param* fw = nullptr;
    Param* fb = nullptr;
    for (Param* p : model.net->params().params) {
      if (p->name == "fc.weight") fw = p;
      if (p->name == "fc.bias") fb = p;
    }
    REQUIRE((fw && fb));
    double var = 0;
    for (int n = 0; n < B; ++n)
      for (int k = 0; k < K; ++k) {
        double l = 0;
        for (int64_t c = 0; c < C; ++c) l += fw->value[k * C + c] * (feat[(size_t)(n * C + c)] - mean[(size_t)c]);
        var += l * l / (B * K);
      }
    const float g = (float)(2.0 / std::sqrt(var));
    for (int k = 0; k < K; ++k) {
      double b = 0;
      for (int64_t c = 0; c < C; ++c) {
        fw->value[k * C + c] *= g;
        b -= fw->value[k * C + c] * mean[(size_t)c];
      }
      fb->value[k] = (float)b;
    }
  }
  return {std::move(model), std::move(x)};
}

// Argmax agreement (fraction) and max |probability difference| of predictions p against fp32's
// p32, both [B, K]; `classes_hit` counts the classes fp32 predicts at least once.
struct Agreement {
  double agree = 0, max_diff = 0;
  int classes_hit = 0;
};

inline Agreement agreement(const Tensor& p32, const Tensor& p, int K) {
  const int64_t B = p32.size(0);
  Agreement a;
  std::vector<int> hist((size_t)K);
  int64_t agree = 0;
  for (int64_t n = 0; n < B; ++n) {
    int i = 0, j = 0;
    for (int k = 0; k < K; ++k) {
      if (p32[n * K + k] > p32[n * K + i]) i = k;
      if (p[n * K + k] > p[n * K + j]) j = k;
      a.max_diff = std::max(a.max_diff, (double)std::fabs(p32[n * K + k] - p[n * K + k]));
    }
    agree += i == j;
    ++hist[(size_t)i];
  }
  a.agree = (double)agree / (double)B;
  for (int h : hist) a.classes_hit += h > 0;
  return a;
}

}  // namespace ds::test
