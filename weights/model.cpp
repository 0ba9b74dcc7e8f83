// Model file load/save on top of weights/safetensors, plus batch normalization and eval-mode
// prediction shared by training and inference.
#include "weights/model.h"

#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/json_bounded.h"
#include "base/rng.h"
#include "base/safe_names.h"
#include "layers/layers.h"
#include "weights/calibrate.h"
#include "weights/precision_agreement.h"
#include "weights/safetensors.h"

namespace ds {

namespace {

const char* kExportHint =
    "add the metadata with `/usr/bin/python3 weights/export_torchvision.py --arch ARCH "
    "--classes a,b,c --out NEW.safetensors FILE` (FILE: this file or the .pth checkpoint)";

// Shortest decimal that reads back as the same float ("0.485", not "0.48500001430511475").
std::string float_str(float v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string float_list(const std::array<float, 3>& v) {
  return "[" + float_str(v[0]) + ", " + float_str(v[1]) + ", " + float_str(v[2]) + "]";
}

std::vector<int64_t> dims_of(const Shape& s) { return std::vector<int64_t>(s.d, s.d + s.ndim); }

void check_classes(const std::string& where, const std::vector<std::string>& classes) {
  if (classes.size() < 2)
    throw InputError(where, "a model needs at least two classes, got " + std::to_string(classes.size()));
  std::set<std::string> seen;
  for (const std::string& c : classes) {
    if (c.empty()) throw InputError(where, "class names must not be empty");
    // Class names name output folders (patches, visualizations) and CSV columns.
    if (std::string why = unsafe_class_name_reason(c); !why.empty())
      throw InputError(where, "class name '" + quoted_for_message(c) + "' " + why);
    if (!seen.insert(c).second) throw InputError(where, "class '" + c + "' is listed twice");
  }
}

void check_normalization(const std::string& where, const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  for (int c = 0; c < 3; ++c) {
    if (!std::isfinite(mean[c])) throw InputError(where, "mean must be finite");
    if (!(std[c] > 0.f) || !std::isfinite(std[c]))
      throw InputError(where, "std must be positive, got " + float_list(std));
  }
}

// The network must reduce a patch to at least 1x1 before the average pool.
void check_patch_size(const std::string& where, const ResNet& net, int patch_size) {
  if (patch_size <= 0) throw InputError(where, "patch_size must be positive, got " + std::to_string(patch_size));
  try {
    net.out_shape(Shape{1, 3, patch_size, patch_size});
  } catch (const InputError& e) {
    throw InputError(
        where, "patch_size " + std::to_string(patch_size) + " does not fit " + arch_name(net.arch()) + ": " + e.what());
  }
}

const std::string& meta_key(const std::string& path, const StFile& f, const std::string& key) {
  auto it = f.metadata.find(key);
  if (it == f.metadata.end()) {
    if (!f.has_metadata)
      throw InputError(path,
                       "no __metadata__ in the safetensors header (a raw state_dict?): "
                       "missing key '" +
                           key + "'; " + kExportHint);
    throw InputError(path, "metadata key '" + key + "' is missing; " + kExportHint);
  }
  return it->second;
}

nlohmann::json meta_json(const std::string& path, const std::string& key, const std::string& text) {
  if (json_nesting_depth(text) > kMaxJsonDepth)
    throw InputError(path,
                     "metadata '" + key + "' is JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) throw InputError(path, "metadata '" + key + "' is not valid JSON: " + text.substr(0, 200));
  return j;
}

std::array<float, 3> meta_triple(const std::string& path, const StFile& f, const std::string& key) {
  nlohmann::json j = meta_json(path, key, meta_key(path, f, key));
  if (!j.is_array() || j.size() != 3)
    throw InputError(path, "metadata '" + key + "' must be a JSON list of 3 numbers, got " + j.dump());
  std::array<float, 3> v{};
  for (int c = 0; c < 3; ++c) {
    if (!j[c].is_number())
      throw InputError(path, "metadata '" + key + "' must be a JSON list of 3 numbers, got " + j.dump());
    v[c] = j[c].get<float>();
  }
  return v;
}

}  // namespace

Model make_model(Arch arch, const std::vector<std::string>& classes, uint64_t seed, int patch_size,
                 std::array<float, 3> mean, std::array<float, 3> std) {
  check_classes("classes", classes);
  check_normalization("mean/std", mean, std);
  Rng rng(seed);
  Model m;
  m.net = std::make_unique<ResNet>(arch, (int)classes.size(), rng);
  check_patch_size("patch_size", *m.net, patch_size);
  m.classes = classes;
  m.mean = mean;
  m.std = std;
  m.patch_size = patch_size;
  return m;
}

void save_model(const std::string& path, const Model& model, const std::map<std::string, std::string>& extra_metadata) {
  DS_CHECK(model.net != nullptr, "save_model: no network");
  DS_CHECK((int)model.classes.size() == model.net->num_classes(), "save_model: class names and fc size disagree");
  std::map<std::string, std::string> meta;
  meta["format"] = kModelFormat;
  meta["version"] = std::to_string(kModelVersion);
  meta["arch"] = arch_name(model.net->arch());
  meta["classes"] = nlohmann::json(model.classes).dump();
  meta["mean"] = float_list(model.mean);
  meta["std"] = float_list(model.std);
  meta["patch_size"] = std::to_string(model.patch_size);
  if (std::string int8 = int8_metadata(model); !int8.empty()) meta[kInt8MetadataKey] = std::move(int8);
  if (std::string agree = agreement_metadata(model.agreement); !agree.empty())
    meta[kAgreementMetadataKey] = std::move(agree);
  if (model.stain.method != StainMethod::none) meta[kStainMetadataKey] = stain_reference_json(model.stain);
  if (model.trained_at.known())
    meta[kTrainedAtMetadataKey] = model.trained_at.mpp > 0 ? nlohmann::json{{"mpp", model.trained_at.mpp}}.dump()
                                                           : nlohmann::json{{"level", model.trained_at.level}}.dump();
  for (const auto& [key, value] : extra_metadata)
    DS_CHECK(meta.emplace(key, value).second, "save_model: extra metadata key '" + key + "' is the model's own");

  std::vector<StTensorRef> refs;
  const ParamSet& ps = model.net->params();
  std::vector<Tensor> file_tensors;  // copies in PyTorch's layout, kept alive for the write
  file_tensors.reserve(ps.params.size());
  for (const Param* p : ps.params) {
    file_tensors.push_back(to_file_layout(*p, p->value));
    refs.push_back({p->name, dims_of(file_tensors.back().shape()), file_tensors.back().data()});
  }
  for (const Buffer* b : ps.buffers) refs.push_back({b->name, dims_of(b->value.shape()), b->value.data()});
  write_safetensors(path, refs, meta);
}

std::map<std::string, std::string> extra_metadata(const std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> extra = metadata;
  for (const char* own : {"format", "version", "arch", "classes", "mean", "std", "patch_size", kInt8MetadataKey,
                          kStainMetadataKey, kAgreementMetadataKey, kTrainedAtMetadataKey})
    extra.erase(own);
  return extra;
}

Model load_model(const std::string& path, std::map<std::string, std::string>* metadata) {
  StFile f = read_safetensors(path);
  if (metadata) *metadata = f.metadata;

  const std::string& format = meta_key(path, f, "format");
  if (format != kModelFormat)
    throw InputError(path, "metadata format is '" + format + "', expected '" + kModelFormat + "'");
  const std::string& version = meta_key(path, f, "version");
  int ver = 0;
  auto vres = std::from_chars(version.data(), version.data() + version.size(), ver);
  if (vres.ec != std::errc() || vres.ptr != version.data() + version.size() || ver < 1)
    throw InputError(path, "metadata version '" + version + "' is not a positive integer");
  if (ver > kModelVersion)
    throw InputError(path, "model file version " + version + " is newer than this deepslide (" +
                               std::to_string(kModelVersion) + ")");

  const std::string& arch_text = meta_key(path, f, "arch");
  Arch arch;
  try {
    arch = parse_arch(arch_text);
  } catch (const InputError&) {
    throw InputError(path, "unknown arch '" + arch_text + "' (expected resnet18, resnet34 or resnet50)");
  }

  nlohmann::json cj = meta_json(path, "classes", meta_key(path, f, "classes"));
  if (!cj.is_array()) throw InputError(path, "metadata 'classes' must be a JSON list of names");
  std::vector<std::string> classes;
  for (const auto& c : cj) {
    if (!c.is_string()) throw InputError(path, "metadata 'classes' must be a JSON list of names");
    classes.push_back(c.get<std::string>());
  }
  check_classes(path, classes);
  const std::array<float, 3> mean = meta_triple(path, f, "mean");
  const std::array<float, 3> std = meta_triple(path, f, "std");
  check_normalization(path, mean, std);
  const std::string& ps_text = meta_key(path, f, "patch_size");
  int patch_size = 0;
  auto pres = std::from_chars(ps_text.data(), ps_text.data() + ps_text.size(), patch_size);
  if (pres.ec != std::errc() || pres.ptr != ps_text.data() + ps_text.size())
    throw InputError(path, "metadata patch_size '" + ps_text + "' is not an integer");

  // fc.weight must be there and agree with the class list before we build a network of that
  // size: the file then holds as many weights as the classifier we allocate, so a long class list
  // in a small file cannot make us allocate gigabytes.
  const StTensor* fc = f.find("fc.weight");
  if (!fc) throw InputError(path, "tensor 'fc.weight' is missing (" + arch_text + " needs it)");
  if (fc->shape.size() != 2 || fc->shape[0] != (int64_t)classes.size())
    throw InputError(path, "tensor 'fc.weight' has shape " + shape_str(fc->shape) + " but the metadata lists " +
                               std::to_string(classes.size()) + " classes");

  Model m;
  m.net = std::make_unique<ResNet>(arch, (int)classes.size());  // every weight is overwritten below
  check_patch_size(path, *m.net, patch_size);
  m.classes = std::move(classes);
  m.mean = mean;
  m.std = std;
  m.patch_size = patch_size;

  std::set<std::string> expected;
  auto find = [&](const std::string& name, const Shape& shape) -> const StTensor& {
    expected.insert(name);
    const StTensor* t = f.find(name);
    if (!t) throw InputError(path, "tensor '" + name + "' is missing (" + arch_text + " needs it)");
    const std::vector<int64_t> want = dims_of(shape);
    if (t->shape != want)
      throw InputError(path,
                       "tensor '" + name + "' has shape " + shape_str(t->shape) + ", expected " + shape_str(want));
    return *t;
  };
  const ParamSet& ps = m.net->params();
  for (Param* p : ps.params) from_file_layout(*p, find(p->name, file_shape(*p)).values.data(), p->value);
  for (Buffer* b : ps.buffers) {
    const StTensor& t = find(b->name, b->value.shape());
    std::copy(t.values.begin(), t.values.end(), b->value.data());
  }
  for (const StTensor& t : f.tensors)
    if (!expected.count(t.name))
      throw InputError(path, "unexpected tensor '" + t.name + "' (not part of " + arch_text + ")");
  if (auto it = f.metadata.find(kInt8MetadataKey); it != f.metadata.end()) apply_int8_metadata(path, m, it->second);
  if (auto it = f.metadata.find(kAgreementMetadataKey); it != f.metadata.end())
    m.agreement = parse_agreement_metadata(path, it->second);
  if (auto it = f.metadata.find(kStainMetadataKey); it != f.metadata.end())
    m.stain = parse_stain_reference(it->second, path);
  if (auto it = f.metadata.find(kTrainedAtMetadataKey); it != f.metadata.end()) {
    const nlohmann::json t = meta_json(path, kTrainedAtMetadataKey, it->second);
    const bool level = t.is_object() && t.size() == 1 && t.contains("level") && t["level"].is_number_integer() &&
                       t["level"].get<int64_t>() >= 0 && t["level"].get<int64_t>() < 64;
    const bool mpp = t.is_object() && t.size() == 1 && t.contains("mpp") && t["mpp"].is_number() &&
                     t["mpp"].get<double>() > 0 && t["mpp"].get<double>() < 1000;
    if (!level && !mpp)
      throw InputError(path, "metadata 'trained_at' is not {\"level\": 0..63} or {\"mpp\": a number of um/px}");
    if (level) m.trained_at.level = (int)t["level"].get<int64_t>();
    else m.trained_at.mpp = t["mpp"].get<double>();
  }
  return m;
}

}  // namespace ds
