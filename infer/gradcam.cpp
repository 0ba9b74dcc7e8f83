// Grad-CAM through the autograd tape: the features are computed without recording, then the head
// is recorded on a fresh Var holding them, and a one-node seed turns the scalar "sum of target
// logits" into the logits' gradient before the tape replays pool and fc backwards.
#include "infer/gradcam.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "engine/autograd.h"
#include "infer/colormap.h"
#include "layers/layers.h"

namespace ds {

CamInternals grad_cam_internals(Model& model, const Tensor& batch, const std::vector<int>& target) {
  DS_CHECK(batch.dim() == 4 && (int64_t)target.size() == batch.size(0), "grad_cam: one target per item");
  const int64_t K = (int64_t)model.classes.size();
  Context plain;
  VarPtr feats = model.net->forward_features(plain, make_var(batch));
  VarPtr a = make_var(feats->value);
  Tape tape;
  Context rec;
  rec.tape = &tape;
  rec.training = false;
  VarPtr logits = model.net->forward_head(rec, a);
  double total = 0;
  for (size_t i = 0; i < target.size(); ++i) {
    DS_CHECK(target[i] >= 0 && target[i] < K, "grad_cam: target class out of range");
    total += logits->value[(int64_t)i * K + target[i]];
  }
  VarPtr score = make_var(Tensor::full(Shape{1}, (float)total));
  tape.push([score, logits, target, K] {
    Tensor& g = logits->ensure_grad();
    for (size_t i = 0; i < target.size(); ++i) g[(int64_t)i * K + target[i]] += score->grad[0];
  });
  tape.backward(score);
  CamInternals r;
  r.features = a->value;
  r.d_features = a->ensure_grad();
  r.logits = logits->value;
  return r;
}

std::vector<CamMap> grad_cam(Model& model, const Tensor& batch, const std::vector<int>& target) {
  CamInternals in = grad_cam_internals(model, batch, target);
  const int64_t N = in.features.size(0), C = in.features.size(1), H = in.features.size(2), W = in.features.size(3),
                HW = H * W;
  Tensor probs = softmax(in.logits);
  const int64_t K = probs.size(1);
  std::vector<CamMap> out((size_t)N);
  for (int64_t n = 0; n < N; ++n) {
    CamMap& m = out[(size_t)n];
    m.height = (int)H;
    m.width = (int)W;
    m.value.assign((size_t)HW, 0.f);
    m.probs.assign(probs.data() + n * K, probs.data() + (n + 1) * K);
    for (int64_t c = 0; c < C; ++c) {
      const float* g = in.d_features.data() + (n * C + c) * HW;
      const float* a = in.features.data() + (n * C + c) * HW;
      double w = 0;
      for (int64_t i = 0; i < HW; ++i) w += g[i];
      w /= (double)HW;
      for (int64_t i = 0; i < HW; ++i) m.value[(size_t)i] += (float)(w * a[i]);
    }
    float mx = 0;
    for (float& v : m.value) mx = std::max(mx, v = std::max(v, 0.f));
    if (mx > 0)
      for (float& v : m.value) v /= mx;
  }
  return out;
}

RgbImage cam_overlay(const RgbImage& patch, const CamMap& cam, float alpha) {
  RgbImage out = patch;
  for (int y = 0; y < patch.height; ++y) {
    // Bilinear sample at the centre of the output pixel (align_corners=False).
    const float fy =
        std::clamp(((float)y + 0.5f) * (float)cam.height / (float)patch.height - 0.5f, 0.f, (float)cam.height - 1);
    const int y0 = (int)fy, y1 = std::min(y0 + 1, cam.height - 1);
    const float ty = fy - (float)y0;
    for (int x = 0; x < patch.width; ++x) {
      const float fx =
          std::clamp(((float)x + 0.5f) * (float)cam.width / (float)patch.width - 0.5f, 0.f, (float)cam.width - 1);
      const int x0 = (int)fx, x1 = std::min(x0 + 1, cam.width - 1);
      const float tx = fx - (float)x0;
      auto at = [&](int yy, int xx) { return cam.value[(size_t)(yy * cam.width + xx)]; };
      const float v =
          (1 - ty) * ((1 - tx) * at(y0, x0) + tx * at(y0, x1)) + ty * ((1 - tx) * at(y1, x0) + tx * at(y1, x1));
      blend_jet(out.row(y) + x * 3, v, alpha);
    }
  }
  return out;
}

}  // namespace ds
