// ResNet-18/34/50 exactly as torchvision builds them: topology, parameter names, state_dict order
// and initialisation. The blocks are thin compositions of the layers in layers.h; the network
// collects every Param and Buffer once, in module order, so optimizers and model files see
// torchvision's state_dict order.
#include "layers/resnet.h"

#include <cmath>

#include "base/error.h"

namespace ds {

Arch parse_arch(const std::string& name) {
  if (name == "resnet18") return Arch::resnet18;
  if (name == "resnet34") return Arch::resnet34;
  if (name == "resnet50") return Arch::resnet50;
  throw InputError("unknown arch '" + name + "' (expected resnet18, resnet34 or resnet50)");
}

std::string arch_name(Arch arch) {
  switch (arch) {
    case Arch::resnet18: return "resnet18";
    case Arch::resnet34: return "resnet34";
    case Arch::resnet50: return "resnet50";
  }
  throw InternalError("arch_name: invalid Arch value");
}

// ---- BasicBlock: conv3x3(stride) bn relu conv3x3 bn, + identity or downsample, relu ----

BasicBlock::BasicBlock(const std::string& prefix, int64_t in_planes, int64_t planes, int64_t stride)
    : conv1(join_name(prefix, "conv1"), in_planes, planes, 3, stride, 1, false),
      conv2(join_name(prefix, "conv2"), planes, planes, 3, 1, 1, false),
      bn1(join_name(prefix, "bn1"), planes),
      bn2(join_name(prefix, "bn2"), planes),
      has_downsample(stride != 1 || in_planes != planes) {
  if (has_downsample) {
    down_conv = Conv2d(join_name(prefix, "downsample.0"), in_planes, planes, 1, stride, 0, false);
    down_bn = BatchNorm2d(join_name(prefix, "downsample.1"), planes);
  }
}

Shape BasicBlock::out_shape(const Shape& in) const {
  Shape main = bn2.out_shape(conv2.out_shape(bn1.out_shape(conv1.out_shape(in))));
  Shape skip = has_downsample ? down_bn.out_shape(down_conv.out_shape(in)) : in;
  if (main != skip)
    throw InputError("BasicBlock " + conv1.weight.name + ": residual shapes differ, " + main.str() + " vs " +
                     skip.str() + " for input " + in.str());
  return main;
}

VarPtr BasicBlock::forward(Context& ctx, const VarPtr& x, const ConvNext& next, bool x_dies) {
  VarPtr out = conv_bn(ctx, conv1, bn1, x, nullptr, true, {&conv2, &bn2, false});  // conv2 alone reads it
  if (has_downsample) return conv_bn_downsample(ctx, conv2, bn2, out, down_conv, down_bn, x, next);
  return conv_bn(ctx, conv2, bn2, out, int8_identity(ctx, conv1, bn1, x), true, next,
                 x_dies);  // relu(bn2(conv2(.)) + x)
}

void BasicBlock::collect(ParamSet& ps) {
  conv1.collect(ps);
  bn1.collect(ps);
  conv2.collect(ps);
  bn2.collect(ps);
  if (has_downsample) {
    down_conv.collect(ps);
    down_bn.collect(ps);
  }
}

// ---- Bottleneck (torchvision v1.5: stride on the 3x3) ----

Bottleneck::Bottleneck(const std::string& prefix, int64_t in_planes, int64_t planes, int64_t stride)
    : conv1(join_name(prefix, "conv1"), in_planes, planes, 1, 1, 0, false),
      conv2(join_name(prefix, "conv2"), planes, planes, 3, stride, 1, false),
      conv3(join_name(prefix, "conv3"), planes, planes * kExpansion, 1, 1, 0, false),
      bn1(join_name(prefix, "bn1"), planes),
      bn2(join_name(prefix, "bn2"), planes),
      bn3(join_name(prefix, "bn3"), planes * kExpansion),
      has_downsample(stride != 1 || in_planes != planes * kExpansion) {
  if (has_downsample) {
    down_conv = Conv2d(join_name(prefix, "downsample.0"), in_planes, planes * kExpansion, 1, stride, 0, false);
    down_bn = BatchNorm2d(join_name(prefix, "downsample.1"), planes * kExpansion);
  }
}

Shape Bottleneck::out_shape(const Shape& in) const {
  Shape s = bn1.out_shape(conv1.out_shape(in));
  s = bn2.out_shape(conv2.out_shape(s));
  Shape main = bn3.out_shape(conv3.out_shape(s));
  Shape skip = has_downsample ? down_bn.out_shape(down_conv.out_shape(in)) : in;
  if (main != skip)
    throw InputError("Bottleneck " + conv1.weight.name + ": residual shapes differ, " + main.str() + " vs " +
                     skip.str() + " for input " + in.str());
  return main;
}

VarPtr Bottleneck::forward(Context& ctx, const VarPtr& x, const ConvNext& next, bool x_dies) {
  VarPtr out = conv_bn(ctx, conv1, bn1, x, nullptr, true, {&conv2, &bn2, false});
  out = conv_bn(ctx, conv2, bn2, out, nullptr, true, {&conv3, &bn3, false});
  if (has_downsample) return conv_bn_downsample(ctx, conv3, bn3, out, down_conv, down_bn, x, next);
  return conv_bn(ctx, conv3, bn3, out, int8_identity(ctx, conv1, bn1, x), true, next,
                 x_dies);  // relu(bn3(conv3(.)) + x)
}

void Bottleneck::collect(ParamSet& ps) {
  conv1.collect(ps);
  bn1.collect(ps);
  conv2.collect(ps);
  bn2.collect(ps);
  conv3.collect(ps);
  bn3.collect(ps);
  if (has_downsample) {
    down_conv.collect(ps);
    down_bn.collect(ps);
  }
}

// ---- ResNet ----

namespace {

struct ArchSpec {
  bool bottleneck;
  int blocks[4];
};

ArchSpec spec_of(Arch arch) {
  switch (arch) {
    case Arch::resnet18: return {false, {2, 2, 2, 2}};
    case Arch::resnet34: return {false, {3, 4, 6, 3}};
    case Arch::resnet50: return {true, {3, 4, 6, 3}};
  }
  throw InternalError("spec_of: invalid Arch value");
}

int64_t expansion_of(Arch arch) { return spec_of(arch).bottleneck ? Bottleneck::kExpansion : 1; }

int checked_classes(int num_classes) {
  if (num_classes < 1) throw InputError("ResNet: num_classes must be at least 1, got " + std::to_string(num_classes));
  return num_classes;
}

}  // namespace

ResNet::ResNet(Arch arch, int num_classes, Rng& rng) : ResNet(arch, num_classes, &rng) {}

ResNet::ResNet(Arch arch, int num_classes) : ResNet(arch, num_classes, nullptr) {}

ResNet::ResNet(Arch arch, int num_classes, Rng* rng)
    : arch_(arch),
      num_classes_(checked_classes(num_classes)),
      conv1_("conv1", 3, 64, 7, 2, 3, false),
      bn1_("bn1", 64),
      fc_("fc", 512 * expansion_of(arch), num_classes) {
  const ArchSpec spec = spec_of(arch);
  conv1_.collect(params_);
  bn1_.collect(params_);
  int64_t in_planes = 64;
  for (int layer = 0; layer < 4; ++layer) {
    const int64_t planes = int64_t{64} << layer;
    for (int b = 0; b < spec.blocks[layer]; ++b) {
      const std::string prefix = "layer" + std::to_string(layer + 1) + "." + std::to_string(b);
      const int64_t stride = (layer > 0 && b == 0) ? 2 : 1;
      if (spec.bottleneck) {
        bottleneck_.push_back(std::make_unique<Bottleneck>(prefix, in_planes, planes, stride));
        bottleneck_.back()->collect(params_);
        in_planes = planes * Bottleneck::kExpansion;
      } else {
        basic_.push_back(std::make_unique<BasicBlock>(prefix, in_planes, planes, stride));
        basic_.back()->collect(params_);
        in_planes = planes;
      }
    }
  }
  fc_.collect(params_);

  // torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu") for every conv, BN weight 1
  // and bias 0, nn.Linear's default U(-1/sqrt(in), 1/sqrt(in)) for fc weight and bias.
  const float fc_bound = 1.0f / std::sqrt((float)fc_.in);
  for (Param* p : params_.params) {
    Tensor& t = p->value;
    if (p == &fc_.weight || p == &fc_.bias) {
      if (rng)
        for (int64_t i = 0; i < t.numel(); ++i) t[i] = rng->uniform(-fc_bound, fc_bound);
      else t.zero();
    } else if (t.dim() == 4) {
      const Shape fs = file_shape(*p);  // [OC, C, KH, KW]
      const double fan_out = (double)(fs[0] * fs[2] * fs[3]);
      const float std = (float)std::sqrt(2.0 / fan_out);
      if (rng) {
        // Drawn in the file's (PyTorch's) order, so a seed gives the same weights whatever the
        // layout in memory.
        Tensor drawn = Tensor::empty(fs);
        for (int64_t i = 0; i < drawn.numel(); ++i) drawn[i] = rng->normal(0.0f, std);
        from_file_layout(*p, drawn.data(), t);
      } else {
        t.zero();
      }
    } else if (p->name.ends_with(".weight")) {
      t.fill(1.0f);
    } else {
      t.fill(0.0f);
    }
    p->grad.zero();
  }
  for (Buffer* b : params_.buffers) b->value.fill(b->name.ends_with(".running_var") ? 1.0f : 0.0f);
}

Shape ResNet::out_shape(const Shape& in) const {
  if (in.ndim != 4 || in[0] < 1 || in[1] != 3 || in[2] < 28 || in[3] < 28)
    throw InputError(arch_name(arch_) + ": input must be [N, 3, H, W] with N >= 1 and H, W >= 28, got " + in.str());
  Shape s = maxpool_.out_shape(bn1_.out_shape(conv1_.out_shape(Shape{in[0], in[2], in[3], in[1]})));
  for (const auto& b : basic_) s = b->out_shape(s);
  for (const auto& b : bottleneck_) s = b->out_shape(s);
  return fc_.out_shape(Shape{s[0], s[3]});
}

VarPtr ResNet::trunk(Context& ctx, const VarPtr& x) {
  out_shape(x->value.shape());
  return trunk_nhwc(ctx, to_channels_last(ctx, x));
}

VarPtr ResNet::trunk_nhwc(Context& ctx, VarPtr h) {
  // The stem and each block told the next block's first convolution (int8 chains, conv_bn_eval).
  auto first_conv = [](auto& blocks, size_t i) {
    if (i >= blocks.size()) return ConvNext{};
    auto& b = *blocks[i];
    return ConvNext{&b.conv1,
                    &b.bn1,
                    true,
                    true,
                    b.has_downsample ? &b.down_conv : nullptr,
                    b.has_downsample ? &b.down_bn : nullptr};
  };
  h = conv_bn_pool(ctx, conv1_, bn1_, maxpool_, h, basic_.empty() ? first_conv(bottleneck_, 0) : first_conv(basic_, 0));
  // h is each block's input and then its output: held nowhere else (h's only owner), it dies as
  // the block returns, which may then write its output over it.
  for (size_t i = 0; i < basic_.size(); ++i)
    h = basic_[i]->forward(ctx, h, first_conv(basic_, i + 1), h.use_count() == 1);
  for (size_t i = 0; i < bottleneck_.size(); ++i)
    h = bottleneck_[i]->forward(ctx, h, first_conv(bottleneck_, i + 1), h.use_count() == 1);
  return h;
}

std::vector<Conv2d*> ResNet::convs() {
  std::vector<Conv2d*> v{&conv1_};
  for (auto& b : basic_) {
    v.insert(v.end(), {&b->conv1, &b->conv2});
    if (b->has_downsample) v.push_back(&b->down_conv);
  }
  for (auto& b : bottleneck_) {
    v.insert(v.end(), {&b->conv1, &b->conv2, &b->conv3});
    if (b->has_downsample) v.push_back(&b->down_conv);
  }
  return v;
}

VarPtr ResNet::forward(Context& ctx, const VarPtr& x) { return fc_.forward(ctx, global_avg_pool(ctx, trunk(ctx, x))); }

VarPtr ResNet::forward_channels_last(Context& ctx, const VarPtr& x) {
  const Shape& s = x->value.shape();
  if (s.ndim != 4) throw InputError(arch_name(arch_) + ": input must be [N, H, W, 3], got " + s.str());
  out_shape(Shape{s[0], s[3], s[1], s[2]});  // the checks of the NCHW input it stands for
  return fc_.forward(ctx, global_avg_pool(ctx, trunk_nhwc(ctx, x)));
}

VarPtr ResNet::forward_features(Context& ctx, const VarPtr& x) { return to_channels_first(ctx, trunk(ctx, x)); }

VarPtr ResNet::forward_head(Context& ctx, const VarPtr& features) {
  return fc_.forward(ctx, global_avg_pool(ctx, to_channels_last(ctx, features)));
}

}  // namespace ds
