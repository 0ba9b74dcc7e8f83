// Grad-CAM (infer/gradcam) and the ResNet's forward_features / forward_head split: the split
// computes the same logits as forward(), and the tape's gradient of a class logit with respect to
// the last stage's activations equals the analytic one, fc.weight[c, k] / (h * w) (global average
// pooling then a linear layer), so the channel weights are exactly those Grad-CAM defines.
#include <catch2/catch.hpp>

#include <cmath>

#include "base/rng.h"
#include "infer/gradcam.h"
#include "weights/model.h"
#include "weights/model_forward.h"

using namespace ds;

TEST_CASE("Grad-CAM gradients through the tape match the analytic gradient", "[infer][gradcam]") {
  Model model = make_model(Arch::resnet18, {"a", "b", "c"}, 3, 64);
  Rng rng(5);
  std::vector<RgbImage> patches;
  for (int n = 0; n < 2; ++n) {
    RgbImage img(64, 64);
    for (auto& v : img.pixels) v = (uint8_t)rng.uniform_int(256);
    patches.push_back(img);
  }
  Tensor batch = make_batch(patches, model);
  Context ctx;
  Tensor full = model.net->forward(ctx, make_var(batch))->value;
  Tensor split = model.net->forward_head(ctx, model.net->forward_features(ctx, make_var(batch)))->value;
  CHECK(max_abs_diff(full, split) == 0.0f);

  const std::vector<int> target = {2, 0};
  CamInternals in = grad_cam_internals(model, batch, target);
  REQUIRE(in.features.dim() == 4);
  const int64_t N = in.features.size(0), C = in.features.size(1), HW = in.features.size(2) * in.features.size(3);
  CHECK(N == 2);
  CHECK(C == 512);
  const Param* fc_w = nullptr;
  for (const auto& p : model.net->params().params)
    if (p->name == "fc.weight") fc_w = p;
  REQUIRE(fc_w != nullptr);
  float worst = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        const float want = fc_w->value[target[(size_t)n] * C + c] / (float)HW;
        worst = std::max(worst, std::fabs(in.d_features[(n * C + c) * HW + i] - want));
      }
  CHECK(worst < 1e-7f);
  CHECK(max_abs_diff(in.logits, full) == 0.0f);

  std::vector<CamMap> cams = grad_cam(model, batch, target);
  REQUIRE(cams.size() == 2);
  for (const CamMap& m : cams) {
    CHECK(m.height * m.width == HW);
    float mx = 0;
    for (float v : m.value) {
      CHECK(v >= 0.0f);
      CHECK(v <= 1.0f);
      mx = std::max(mx, v);
    }
    CHECK((mx == 1.0f || mx == 0.0f));
    double psum = 0;
    for (float p : m.probs) psum += p;
    CHECK(psum == Approx(1.0).epsilon(1e-5));
  }
  RgbImage over = cam_overlay(patches[0], cams[0]);
  CHECK(over.width == 64);
  CHECK(over.pixels != patches[0].pixels);
}
