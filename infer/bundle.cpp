// The bundle's recipe as safetensors metadata (flat `recipe_*` string keys, so `head -c` on the
// file shows them), reading it back strictly, and loading a bundle.
#include "infer/bundle.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <vector>

#include "base/error.h"
#include "base/file_hash.h"
#include "base/hash.h"
#include "base/json_bounded.h"
#include "slide/windows/slide_windows.h"

namespace ds {

namespace {

using Meta = std::map<std::string, std::string>;

std::string number_text(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

// A recipe field, present or an error naming the file and the field.
const std::string& field(const std::string& path, const Meta& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) throw InputError(path, "bundle recipe field '" + key + "' is missing");
  return it->second;
}

template <typename T>
T parse_number(const std::string& path, const Meta& m, const std::string& key) {
  const std::string& s = field(path, m, key);
  T v{};
  auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (res.ec != std::errc() || res.ptr != s.data() + s.size())
    throw InputError(path, "bundle recipe field '" + key + "' is not a number: '" + s.substr(0, 60) + "'");
  return v;
}

void check_field(const std::string& path, bool ok, const std::string& key, const std::string& why) {
  if (!ok) throw InputError(path, "bundle recipe field '" + key + "' " + why);
}

}  // namespace

Meta bundle_metadata(const Recipe& r, const nlohmann::ordered_json& provenance) {
  const WindowOptions& w = r.windows;
  Meta m;
  m["bundle"] = std::to_string(kBundleVersion);
  m["recipe_level"] = std::to_string(w.level);
  m["recipe_mpp"] = number_text(w.mpp);
  m["recipe_overlap"] = number_text(w.overlap);
  m["recipe_tissue"] = tissue_method_name(w.tissue);
  m["recipe_purple_threshold"] = std::to_string(w.purple.threshold);
  m["recipe_purple_scale"] = std::to_string(w.purple.scale);
  m["recipe_otsu_min_fraction"] = number_text(w.otsu_min_fraction);
  if (w.level_mpp_min > 0) {  // optional: bundles made before it, or without a recorded resolution
    m["recipe_level_mpp_min"] = number_text(w.level_mpp_min);
    m["recipe_level_mpp_max"] = number_text(w.level_mpp_max);
  }
  m["recipe_aggregator"] = r.aggregator.to_json().dump();
  m["provenance"] = provenance.dump();
  return m;
}

bool is_bundle(const Meta& m) { return m.count("bundle") > 0; }

Recipe recipe_from_metadata(const std::string& path, const Meta& m, const std::vector<std::string>& classes,
                            int patch_size) {
  const int version = parse_number<int>(path, m, "bundle");
  if (version < 1 || version > kBundleVersion)
    throw InputError(path, "bundle version " + std::to_string(version) + " is not one this deepslide reads (1.." +
                               std::to_string(kBundleVersion) + ")");
  Recipe r;
  WindowOptions& w = r.windows;
  w.patch_size = patch_size;
  w.level = parse_number<int>(path, m, "recipe_level");
  check_field(path, w.level >= 0, "recipe_level", "must be >= 0");
  w.mpp = parse_number<double>(path, m, "recipe_mpp");
  check_field(path, std::isfinite(w.mpp) && w.mpp >= 0, "recipe_mpp", "must be >= 0 (0: read at recipe_level)");
  w.overlap = parse_number<double>(path, m, "recipe_overlap");
  check_field(path, std::isfinite(w.overlap) && w.overlap >= 1, "recipe_overlap", "must be >= 1");
  const std::string& tissue = field(path, m, "recipe_tissue");
  try {
    w.tissue = parse_tissue_method(tissue);
  } catch (const InputError&) {
    throw InputError(
        path, "bundle recipe field 'recipe_tissue' must be purple, otsu or none, got '" + tissue.substr(0, 60) + "'");
  }
  w.purple.threshold = parse_number<int>(path, m, "recipe_purple_threshold");
  w.purple.scale = parse_number<int>(path, m, "recipe_purple_scale");
  check_field(path, w.purple.scale >= 1 && w.purple.scale <= w.patch_size, "recipe_purple_scale",
              "must be in [1, patch size]");
  w.otsu_min_fraction = parse_number<double>(path, m, "recipe_otsu_min_fraction");
  check_field(path, w.otsu_min_fraction >= 0 && w.otsu_min_fraction <= 1, "recipe_otsu_min_fraction",
              "must be in [0, 1]");
  if (m.count("recipe_level_mpp_min") || m.count("recipe_level_mpp_max")) {
    w.level_mpp_min = parse_number<double>(path, m, "recipe_level_mpp_min");
    w.level_mpp_max = parse_number<double>(path, m, "recipe_level_mpp_max");
    const std::string plausible = "must be a resolution in " + plausible_read_mpp_text() + " um/px";
    check_field(path, plausible_read_mpp(w.level_mpp_min), "recipe_level_mpp_min", plausible);
    check_field(path, plausible_read_mpp(w.level_mpp_max), "recipe_level_mpp_max", plausible);
    check_field(path, w.level_mpp_max >= w.level_mpp_min, "recipe_level_mpp_max", "must be >= recipe_level_mpp_min");
    check_field(path, w.mpp == 0, "recipe_level_mpp_min", "belongs to a level-based recipe (recipe_mpp 0)");
  }
  const std::string where = path + ": bundle recipe field 'recipe_aggregator'";
  const nlohmann::json aj = parse_json_bounded(field(path, m, "recipe_aggregator"), where);
  if (!aj.is_object()) throw InputError(where, "is not a JSON object");
  r.aggregator = Aggregator::from_json(aj, where);
  if (r.aggregator.classes != classes)
    throw InputError(path, "bundle recipe field 'recipe_aggregator' lists other classes than the model");
  return r;
}

Bundle load_bundle(const std::string& path) {
  Bundle b;
  b.path = path;
  Meta meta;
  b.model = load_model(path, &meta);
  if (!is_bundle(meta))
    throw InputError(path, "a model file, not a bundle (no recipe): make one with `deepslide bundle --model " + path +
                               " --aggregator aggregator.json --out model.bundle.safetensors`");
  b.recipe = recipe_from_metadata(path, meta, b.model);
  if (auto it = meta.find("provenance"); it != meta.end())
    b.provenance = parse_json_bounded<nlohmann::ordered_json>(it->second, path + ": metadata 'provenance'");
  b.content_hash = file_content_hash(path);
  return b;
}

std::string file_content_hash(const std::string& path) { return hex64(fnv1a_file(path)); }

}  // namespace ds
