// Feeding a Model: 8-bit RGB patches become a normalized NCHW batch, a batch becomes class
// probabilities. Training and inference both go through here, so they normalize alike.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "base/rgb_image.h"
#include "engine/tensor.h"
#include "weights/model.h"

namespace ds {

// 8-bit RGB patches (HWC, each patch_size x patch_size) -> [N, 3, P, P] float batch: the
// model's stain normalisation (model.stain, on a copy), then x/255 and (x - mean) / std per channel. `names` (optional,
// same length) label size errors. `slide_stain` (optional): the patches' slide's own stain statistics for a model
// fitted per slide (slide/windows/slide_stain.h); without it each patch is fitted alone.
Tensor make_batch(const std::vector<RgbImage>& patches, const Model& model, const std::vector<std::string>& names = {},
                  const SlideStain* slide_stain = nullptr);
// One patch into out (3 * P * P floats, CHW), make_batch's arithmetic after the stain
// normalisation (readers that own their patch call normalize_stain(patch, model.stain) first).
void normalize_patch(float* out, const RgbImage& patch, const std::array<float, 3>& mean,
                     const std::array<float, 3>& std);
// The same values channels-last (HWC, as the patch's bytes lie), for
// predict_probabilities_channels_last: the network's own layout, no transpose on the way in.
void normalize_patch_channels_last(float* out, const RgbImage& patch, const std::array<float, 3>& mean,
                                   const std::array<float, 3>& std);

// Runs the network in eval mode (no tape, BN running statistics) and returns softmax
// probabilities [N, K] for a batch from make_batch, its convolutions at `precision`
// (engine/autograd.h's Precision; bf16 and int8 weights are packed once per model, on first use).
// int8 needs a calibrated model (weights/calibrate.h): InputError otherwise.
Tensor predict_probabilities(Model& model, const Tensor& batch, Precision precision);
// The same at the model's own precision (model.precision, set by set_model_precision).
Tensor predict_probabilities(Model& model, const Tensor& batch);
// The same probabilities (bit for bit) for a channels-last batch [N, P, P, 3] of
// normalize_patch_channels_last patches, at the model's precision.
Tensor predict_probabilities_channels_last(Model& model, const Tensor& batch);

// Sets the precision every later predict_probabilities(model, batch) runs at: what `predict`,
// `diagnose` and `visualize` call with their --precision (parse_precision) before they start.
// int8 on a model without int8 ranges is an InputError naming `model_path` and saying to run
// `deepslide calibrate`.
void set_model_precision(Model& model, Precision precision, const std::string& model_path = "the model");

// A --precision value: "fp32", "bf16" or "int8". bf16 needs the AVX512-BF16 kernels
// (has_bf16_kernels(): the CPU has the extension and DEEPSLIDE_ISA does not cap the path below
// avx512), int8 the VNNI ones (has_vnni_kernels(): AVX512-VNNI on the avx512 path or AVX-VNNI on avx2), or reference
// mode (DEEPSLIDE_ISA=ref), which runs the reference twins; otherwise an InputError says so rather than running many
// times slower than fp32 on the reference loops. ("auto" needs the model: weights/precision_agreement.h.)
Precision parse_precision(const std::string& value);

}  // namespace ds
