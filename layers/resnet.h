// ResNet-18/34 (BasicBlock) and ResNet-50 (Bottleneck) with torchvision's topology,
// initialisation and parameter names (conv1, bn1, layer1.0.conv1, ..., fc), any class count,
// any input size down to 28x28. forward() maps [N, 3, H, W] to logits [N, num_classes]; inside,
// activations are channels-last (layers.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/rng.h"
#include "engine/autograd.h"
#include "layers/layers.h"
#include "layers/module.h"

namespace ds {

enum class Arch { resnet18, resnet34, resnet50 };
Arch parse_arch(const std::string& name);  // InputError naming the arch when unknown
std::string arch_name(Arch arch);

struct BasicBlock {
  Conv2d conv1, conv2;
  BatchNorm2d bn1, bn2;
  bool has_downsample = false;
  Conv2d down_conv;     // "downsample.0"
  BatchNorm2d down_bn;  // "downsample.1"
  BasicBlock(const std::string& prefix, int64_t in_planes, int64_t planes, int64_t stride);
  Shape out_shape(const Shape& in) const;
  // next: the convolution that reads the block's output next (the next block's conv1; conv_bn's).
  // x_dies: the caller drops x after the call and holds it nowhere else, so inference may write
  // the block's output over it (conv_bn's residual_dies).
  VarPtr forward(Context& ctx, const VarPtr& x, const ConvNext& next = {}, bool x_dies = false);
  void collect(ParamSet& ps);
};

struct Bottleneck {
  static constexpr int64_t kExpansion = 4;
  Conv2d conv1, conv2, conv3;  // 1x1, 3x3 (stride here, as torchvision v1.5), 1x1
  BatchNorm2d bn1, bn2, bn3;
  bool has_downsample = false;
  Conv2d down_conv;
  BatchNorm2d down_bn;
  Bottleneck(const std::string& prefix, int64_t in_planes, int64_t planes, int64_t stride);
  Shape out_shape(const Shape& in) const;
  // next: the convolution that reads the block's output next (the next block's conv1; conv_bn's).
  // x_dies: the caller drops x after the call and holds it nowhere else, so inference may write
  // the block's output over it (conv_bn's residual_dies).
  VarPtr forward(Context& ctx, const VarPtr& x, const ConvNext& next = {}, bool x_dies = false);
  void collect(ParamSet& ps);
};

class ResNet {
 public:
  // Weights initialised as torchvision does (kaiming_normal fan_out for convs, BN 1/0,
  // PyTorch's default Linear init) from rng.
  ResNet(Arch arch, int num_classes, Rng& rng);
  // The same network without the random init: weights 0, BN weight 1 / bias 0, running mean 0 /
  // var 1. For callers that overwrite every weight right away (model files, tests).
  ResNet(Arch arch, int num_classes);
  Arch arch() const { return arch_; }
  int num_classes() const { return num_classes_; }
  Shape out_shape(const Shape& in) const;  // InputError naming the shape if too small / not [N,3,H,W]
  VarPtr forward(Context& ctx, const VarPtr& x);
  // forward() on an input already channels-last, [N, H, W, 3] (what the network runs on inside):
  // the same logits without the input's transpose (whole-slide prediction's batches).
  VarPtr forward_channels_last(Context& ctx, const VarPtr& x);
  // forward() in two halves, for Grad-CAM: the last residual stage's output [N, C, h, w] (before
  // global pooling), and the head (pool + fc) from it to logits; forward_head(forward_features(x))
  // computes the same as forward(x).
  VarPtr forward_features(Context& ctx, const VarPtr& x);
  VarPtr forward_head(Context& ctx, const VarPtr& features);
  // Parameters and buffers in torchvision's state_dict order (pointers stay valid for the
  // lifetime of the ResNet; it is not copyable).
  const ParamSet& params() const { return params_; }
  // Every convolution, in forward order (conv1 first; in a block conv1, conv2[, conv3], the
  // downsample): for calibration and the int8 ranges (weights/calibrate.h).
  std::vector<Conv2d*> convs();
  ResNet(const ResNet&) = delete;
  ResNet& operator=(const ResNet&) = delete;

 private:
  ResNet(Arch arch, int num_classes, Rng* rng);  // rng == nullptr: no random init
  VarPtr trunk(Context& ctx, const VarPtr& x);   // NCHW input -> last stage's output, NHWC
  VarPtr trunk_nhwc(Context& ctx, VarPtr h);     // the same from the NHWC input
  Arch arch_;
  int num_classes_;
  Conv2d conv1_;
  BatchNorm2d bn1_;
  MaxPool2d maxpool_;
  std::vector<std::unique_ptr<BasicBlock>> basic_;
  std::vector<std::unique_ptr<Bottleneck>> bottleneck_;
  Linear fc_;
  ParamSet params_;
};

}  // namespace ds
