// The model bundle: one safetensors file a hospital receives and runs. It is a model file
// (network, classes, normalisation, patch size: weights/model.h) whose metadata also holds the
// inference recipe (where windows go and which are tissue: slide/windows/slide_windows.h; the
// slide-level aggregator `search` chose: infer/aggregator.h) and its provenance. Every recipe
// field is required: a bundle missing one is refused, naming the file and the field, rather
// than filled with a default the model was never validated with. docs/formats.md lists the keys.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infer/aggregator.h"
#include "slide/windows/slide_windows.h"
#include "weights/model.h"

namespace ds {

constexpr int kBundleVersion = 1;

// How a bundle's model is run on a slide and its windows turned into a diagnosis.
struct Recipe {
  WindowOptions windows;  // patch_size is the model's
  Aggregator aggregator;  // classes are the model's
};

// The metadata keys a bundle adds to the model file's.
std::map<std::string, std::string> bundle_metadata(const Recipe& recipe, const nlohmann::ordered_json& provenance);

// Whether a model file's metadata marks it as a bundle.
bool is_bundle(const std::map<std::string, std::string>& metadata);

// The recipe in a bundle's metadata, checked against its model's classes and patch size;
// InputError naming `path` and the missing or invalid field.
Recipe recipe_from_metadata(const std::string& path, const std::map<std::string, std::string>& metadata,
                            const std::vector<std::string>& classes, int patch_size);
inline Recipe recipe_from_metadata(const std::string& path, const std::map<std::string, std::string>& metadata,
                                   const Model& model) {
  return recipe_from_metadata(path, metadata, model.classes, model.patch_size);
}

struct Bundle {
  std::string path;
  Model model;
  Recipe recipe;
  nlohmann::ordered_json provenance;  // {} when absent
  std::string content_hash;           // FNV-1a 64 of the file's bytes, 16 hex digits
};

// Loads a bundle; a plain model file (no recipe) is an InputError naming the file.
Bundle load_bundle(const std::string& path);

// FNV-1a 64 of a whole file, as 16 hex digits.
std::string file_content_hash(const std::string& path);

}  // namespace ds
