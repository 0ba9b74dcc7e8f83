// The tuning run behind `deepslide tune`: for each shape class of ResNet-18's convolutions and
// each pass (forward, backward data, backward weights), times the derived blocking
// (conv_blocking.h) against candidates that halve or double one of its parameters, then the
// winners of each parameter together, all alternating in rounds, and keeps the fastest median
// if it beats the derived one by min_gain (else the derived one, so noise does not move it);
// then, for the 3x3 stride-1 shapes, the direct convolution against Winograd (forward and weight
// gradient; bf16 forward where the CPU has it). The results are
// what write_conv_tuning (conv_tuning.h) stores.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/kernels/conv_blocking.h"
#include "engine/kernels/conv_tuning.h"

namespace ds {

struct ConvTuneShape {
  std::string name;  // ResNet-18's layer name, e.g. "layer2.0.conv1"
  ConvDims d;
};
// ResNet-18's distinct convolution shapes at this batch and input side (224: ImageNet's).
std::vector<ConvTuneShape> resnet18_conv_shapes(int64_t batch, int64_t size);

struct ConvTuneOptions {
  int64_t batch = 16, size = 224;
  int rounds = 3;          // timed calls per candidate (the median counts), after one untimed
  double min_gain = 0.03;  // a candidate must be this much faster than the derived blocking
};

// InputError unless batch is 1..1024, size 32..1024 and rounds 1..50.
void check_conv_tune_options(const ConvTuneOptions& o);

struct ConvTuneProgress {
  const ConvTuneShape* shape;
  ConvPass pass;
  const ConvTunedClass* result;
  int done, total;  // classes finished, of
};

std::vector<ConvTunedClass> tune_conv_blocking(const ConvTuneOptions& o,
                                               const std::function<void(const ConvTuneProgress&)>& progress);

// For each of ResNet-18's 3x3 stride-1 shapes at the options' batch and size, the direct
// forward convolution (at the blocking `blockings` holds for its class, else the derived one)
// against the Winograd one (conv_winograd.h), alternating in rounds; Winograd is chosen when its
// median beats the direct one's by min_gain (it rounds differently, so a tie stays direct).
std::vector<WinogradChoice> tune_winograd(
    const ConvTuneOptions& o, const std::vector<ConvTunedClass>& blockings,
    const std::function<void(const ConvTuneShape&, const WinogradChoice&)>& progress);

// The same for the weight gradient (WinogradPass::wgrad): the direct backward-weights pass at its
// tuned blocking against conv2d_backward_weights_winograd.
std::vector<WinogradChoice> tune_winograd_wgrad(
    const ConvTuneOptions& o, const std::vector<ConvTunedClass>& blockings,
    const std::function<void(const ConvTuneShape&, const WinogradChoice&)>& progress);

// The same at bf16 (WinogradPass::bf16): the bf16 direct convolution (conv_bf16.h) against bf16
// Winograd F(2x2) (conv_winograd_bf16.h), on the tiles conv_bn_eval would run. Empty where the
// CPU lacks the bf16 kernels (has_bf16_kernels()).
std::vector<WinogradChoice> tune_winograd_bf16(
    const ConvTuneOptions& o, const std::function<void(const ConvTuneShape&, const WinogradChoice&)>& progress);

}  // namespace ds
