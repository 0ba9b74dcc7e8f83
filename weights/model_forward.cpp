// Patches to a normalized batch (torchvision's ToTensor + Normalize arithmetic; NCHW, or
// channels-last for whole-slide prediction) and the eval-mode forward pass with softmax.
#include "weights/model_forward.h"

#include "base/error.h"
#include "engine/cpu_features.h"
#include "layers/layers.h"
#include "weights/calibrate.h"

namespace ds {

namespace {

// Same operation order as torchvision: ToTensor (x / 255), then Normalize ((x - m) / s), computed
// once per byte value: a table lookup per pixel instead of two divisions (they were a third of a
// reader thread's time; the values are the same floats).
std::array<float, 3 * 256> normalize_table(const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  std::array<float, 3 * 256> t;
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) t[(size_t)(c * 256 + v)] = ((float)v / 255.0f - mean[c]) / std[c];
  return t;
}

}  // namespace

void normalize_patch(float* out, const RgbImage& patch, const std::array<float, 3>& mean,
                     const std::array<float, 3>& std) {
  const size_t hw = (size_t)patch.width * patch.height;
  const std::array<float, 3 * 256> t = normalize_table(mean, std);
  for (int c = 0; c < 3; ++c) {
    const float* table = t.data() + c * 256;
    float* dst = out + c * hw;
    const uint8_t* src = patch.pixels.data() + c;
    for (size_t i = 0; i < hw; ++i) dst[i] = table[src[3 * i]];
  }
}

void normalize_patch_channels_last(float* out, const RgbImage& patch, const std::array<float, 3>& mean,
                                   const std::array<float, 3>& std) {
  const size_t hw = (size_t)patch.width * patch.height;
  const std::array<float, 3 * 256> t = normalize_table(mean, std);
  const uint8_t* src = patch.pixels.data();
  for (size_t i = 0; i < hw; ++i, src += 3, out += 3) {
    out[0] = t[src[0]];
    out[1] = t[256 + src[1]];
    out[2] = t[512 + src[2]];
  }
}

Tensor make_batch(const std::vector<RgbImage>& patches, const Model& model, const std::vector<std::string>& names,
                  const SlideStain* slide_stain) {
  DS_CHECK(names.empty() || names.size() == patches.size(), "make_batch: names and patches differ");
  const int P = model.patch_size;
  Tensor batch = Tensor::empty(Shape{(int64_t)patches.size(), 3, P, P});
  for (size_t i = 0; i < patches.size(); ++i) {
    const RgbImage& im = patches[i];
    if (im.width != P || im.height != P)
      throw InputError(names.empty() ? "patch " + std::to_string(i) : names[i],
                       "image is " + std::to_string(im.width) + "x" + std::to_string(im.height) +
                           " pixels but the model expects " + std::to_string(P) + "x" + std::to_string(P) +
                           " patches (patch_size " + std::to_string(P) + ")");
    if (model.stain.method == StainMethod::none) {
      normalize_patch(batch.data() + i * 3 * (size_t)P * P, im, model.mean, model.std);
    } else {
      RgbImage stained = im;
      if (slide_stain) normalize_stain(stained, model.stain, *slide_stain);
      else normalize_stain(stained, model.stain);
      normalize_patch(batch.data() + i * 3 * (size_t)P * P, stained, model.mean, model.std);
    }
  }
  return batch;
}

namespace {

// Eval-mode logits of forward(ctx, x) at `precision`, as probabilities.
template <class Forward>
Tensor eval_probabilities(Model& model, Precision precision, Forward forward) {
  DS_CHECK(model.net != nullptr, "predict_probabilities: no network");
  DS_CHECK_INPUT(precision != Precision::int8 || is_calibrated(model),
                 "int8 needs a calibrated model: run deepslide calibrate first");
  Context ctx;
  ctx.tape = nullptr;
  ctx.training = false;
  ctx.precision = precision;
  return softmax(forward(ctx)->value);
}

}  // namespace

Tensor predict_probabilities(Model& model, const Tensor& batch, Precision precision) {
  return eval_probabilities(model, precision, [&](Context& ctx) { return model.net->forward(ctx, make_var(batch)); });
}

Tensor predict_probabilities(Model& model, const Tensor& batch) {
  return predict_probabilities(model, batch, model.precision);
}

Tensor predict_probabilities_channels_last(Model& model, const Tensor& batch) {
  return eval_probabilities(model, model.precision,
                            [&](Context& ctx) { return model.net->forward_channels_last(ctx, make_var(batch)); });
}

void set_model_precision(Model& model, Precision precision, const std::string& model_path) {
  if (precision == Precision::int8 && !is_calibrated(model))
    throw InputError(model_path,
                     "has no int8 calibration (metadata int8_act_max): run `deepslide calibrate` on it "
                     "first, or use --precision fp32 or bf16");
  model.precision = precision;
}

Precision parse_precision(const std::string& value) {
  if (value == "fp32") return Precision::fp32;
  if (value != "bf16" && value != "int8")
    throw InputError("--precision", value == "auto" ? "must be fp32, bf16 or int8 here (auto needs a model), got auto"
                                                    : "must be fp32, bf16, int8 or auto, got " + value);
  const bool bf16 = value == "bf16";
  if (!(bf16 ? has_bf16_kernels() : has_vnni_kernels()) && !reference_kernels()) {
    const CpuExtensions& e = cpu_extensions();
    const bool hw = bf16 ? e.avx512_bf16 : e.avx512_vnni || e.avx_vnni;
    const std::string path = bf16 || !e.avx_vnni ? "avx512" : "avx2";
    throw InputError("--precision", value + " needs a CPU with " + (bf16 ? "AVX512-BF16" : "AVX512-VNNI or AVX-VNNI") +
                                        (hw ? " and the " + path + " path (DEEPSLIDE_ISA caps it at " +
                                                  std::string(isa_name(cpu_isa())) + ")"
                                            : " (this one lacks it)") +
                                        "; use --precision fp32");
  }
  return bf16 ? Precision::bf16 : Precision::int8;
}

}  // namespace ds
