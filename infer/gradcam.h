// Grad-CAM (Selvaraju et al. 2017) for the ResNet: the last residual stage's activations A
// [N, C, h, w] and the gradient of the target class's logit with respect to them, from the Tape;
// channel weights are the spatially averaged gradients, the map is ReLU(sum_c w_c A_c) scaled to
// [0, 1] by its maximum.
#pragma once
#include <vector>

#include "engine/tensor.h"
#include "slide/reader/image_io.h"
#include "weights/model.h"

namespace ds {

struct CamMap {
  int height = 0, width = 0;
  std::vector<float> value;  // [height][width], in [0, 1]
  std::vector<float> probs;  // the model's class probabilities for this patch
};

// batch from make_batch (eval mode; BN uses running statistics), target[i] the class for item i.
std::vector<CamMap> grad_cam(Model& model, const Tensor& batch, const std::vector<int>& target);

// The raw gradient of sum_i logit[i, target[i]] with respect to the last stage's activations,
// together with those activations (for tests).
struct CamInternals {
  Tensor features, d_features, logits;
};
CamInternals grad_cam_internals(Model& model, const Tensor& batch, const std::vector<int>& target);

// The patch with the map upsampled (bilinear) and blended over it in the jet colour map.
RgbImage cam_overlay(const RgbImage& patch, const CamMap& cam, float alpha = 0.45f);

}  // namespace ds
