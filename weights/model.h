// The model file: a ResNet plus what is needed to use it (class names, input normalization,
// patch size), stored as safetensors with torchvision's state_dict names (docs/formats.md).
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "layers/resnet.h"
#include "stain/stain_norm.h"
#include "weights/precision_agreement.h"

namespace ds {

constexpr const char* kModelFormat = "deepslide-model";
constexpr int kModelVersion = 1;
constexpr const char* kStainMetadataKey = "stain";
constexpr const char* kTrainedAtMetadataKey = "trained_at";

// The resolution a model's windows were read at in training (`train --level` or `--mpp`, slides
// mode), which `predict` and `calibrate` then read at unless told otherwise; neither set: not
// known (trained on a patch folder, or a file from before it was recorded).
struct TrainedAt {
  int level = -1;  // >= 0: a pyramid level
  double mpp = 0;  // > 0: microns per pixel
  bool known() const { return level >= 0 || mpp > 0; }
};
constexpr std::array<float, 3> kImageNetMean = {0.485f, 0.456f, 0.406f};
constexpr std::array<float, 3> kImageNetStd = {0.229f, 0.224f, 0.225f};

struct Model {
  std::unique_ptr<ResNet> net;
  std::vector<std::string> classes;           // class index -> name; size == net->num_classes()
  std::array<float, 3> mean = kImageNetMean;  // per RGB channel, 0..1 units (after x/255)
  std::array<float, 3> std = kImageNetStd;
  int patch_size = 224;  // patches are patch_size x patch_size pixels
  // Stain normalisation every patch gets before the mean/std normalization (stain/stain_norm.h):
  // fitted by `train --stain-norm`, saved as metadata "stain" (absent: none, as before it existed).
  StainReference stain;
  // The convolutions' arithmetic in predict_probabilities(model, batch): set it with
  // set_model_precision (weights/model_forward.h), which checks that int8 has its ranges. The
  // int8 input ranges themselves live in the network's convs (weights/calibrate.h) and are saved
  // and loaded with the file (metadata int8_act_max).
  Precision precision = Precision::fp32;
  // How bf16 and int8 inference agree with fp32 on this model (weights/precision_agreement.h),
  // measured by `deepslide calibrate`, saved as metadata precision_agreement: what --precision auto
  // goes by.
  PrecisionAgreement agreement;
  // Saved as metadata trained_at ({"level": L} or {"mpp": M}) when known.
  TrainedAt trained_at;
};

// A freshly initialised model (torchvision's init, seeded). Checks the classes (at least two,
// unique, non-empty), std > 0 and that patch_size is large enough for the network; InputError
// otherwise.
Model make_model(Arch arch, const std::vector<std::string>& classes, uint64_t seed, int patch_size = 224,
                 std::array<float, 3> mean = kImageNetMean, std::array<float, 3> std = kImageNetStd);

// Writes the model atomically: every parameter and buffer as F32 under its torchvision name,
// metadata format/version/arch/classes/mean/std/patch_size (and int8_act_max when the model is
// calibrated, weights/calibrate.h; precision_agreement when measured; stain when it normalises stains), plus
// `extra_metadata` (what a model bundle adds, infer/bundle.h; its keys must not be the model's own).
void save_model(const std::string& path, const Model& model,
                const std::map<std::string, std::string>& extra_metadata = {});

// The metadata keys of a model file that are not the model's own (those save_model writes from
// the Model): what a command that rewrites a model file passes on as extra_metadata.
std::map<std::string, std::string> extra_metadata(const std::map<std::string, std::string>& metadata);

// Reads and checks a model file: metadata present and valid, arch known, exactly the tensors
// the architecture needs with the right shapes. InputError naming the file (and the tensor).
// Metadata keys it does not know are ignored (a bundle is a model file); `metadata`, when given,
// receives all of them.
Model load_model(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

}  // namespace ds
