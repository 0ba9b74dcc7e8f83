// Building a bundle from a model file, aggregator.json and the flags given.
#include "infer/bundle_make.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/json_bounded.h"
#include "slide/windows/slide_windows.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

using ojson = nlohmann::ordered_json;

// One window setting: the flag when given, else aggregator.json's "windows" entry, else an
// error naming both.
class Settings {
 public:
  Settings(const std::string& agg_path, const nlohmann::json& agg) : path_(agg_path) {
    if (agg.contains("windows") && agg["windows"].is_object()) windows_ = agg["windows"];
  }
  // `fallback`: the value predict uses when its flag is left out, for the filter parameters
  // (a hand-made aggregator.json has no window settings); none for the settings that decide
  // where windows go, which must be stated.
  template <typename T>
  T get(const std::optional<T>& flag, const std::string& key, const std::string& flag_name,
        const std::optional<T>& fallback = std::nullopt) {
    if (flag) {
      sources[key] = flag_name;
      return *flag;
    }
    if (!windows_.contains(key) && fallback) {
      sources[key] = "default";
      return *fallback;
    }
    if (!windows_.contains(key))
      throw InputError(path_, "no '" + key +
                                  "' in its window settings (search copies them from predict.json; "
                                  "an older run has none): give " +
                                  flag_name);
    try {
      sources[key] = path_;
      return windows_[key].get<T>();
    } catch (const nlohmann::json::exception&) {
      throw InputError(path_, "window setting '" + key + "' has the wrong type: " + windows_[key].dump());
    }
  }
  const nlohmann::json& windows() const { return windows_; }
  std::map<std::string, std::string> sources;

 private:
  std::string path_;
  nlohmann::json windows_ = nlohmann::json::object();
};

// The training summary the provenance carries: the model file's own `training` metadata when it
// has one, and the best epoch of the log.csv written beside it by `deepslide train`.
ojson training_summary(const std::string& model_path, const std::map<std::string, std::string>& meta) {
  ojson t = ojson::object();
  if (auto it = meta.find("training"); it != meta.end()) {
    t["model_metadata"] = parse_json_bounded<ojson>(it->second, model_path + ": metadata 'training'");
  }
  const fs::path log = fs::path(model_path).parent_path() / "log.csv";
  std::ifstream in(log);
  std::string line;
  if (!in || !std::getline(in, line)) return t;
  std::vector<std::string> header;
  std::stringstream hs(line);
  for (std::string c; std::getline(hs, c, ',');) header.push_back(c);
  int epochs = 0;
  double best = -1;
  ojson best_row;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string c; std::getline(ls, c, ',');) f.push_back(c);
    if (f.size() != header.size()) continue;
    ++epochs;
    ojson row = ojson::object();
    for (size_t i = 0; i < f.size(); ++i) {
      try {
        row[header[i]] = std::stod(f[i]);
      } catch (...) {
        row[header[i]] = f[i];
      }
    }
    if (row.contains("val_acc") && row["val_acc"].is_number() && row["val_acc"].get<double>() > best) {
      best = row["val_acc"].get<double>();
      best_row = row;
    }
  }
  if (epochs > 0) t["log"] = {{"file", log.filename().string()}, {"epochs", epochs}, {"best_epoch", best_row}};
  return t;
}

// A level-based recipe records the resolution its validation slides were read at
// (aggregator.json's windows.read_mpp_range, search's copy of predict.json's read_mpp), so that
// diagnose can refuse a slide a level reads at another (WindowOptions::level_mpp_min). Only when
// the recipe reads the level those predictions did: at another level the range says nothing.
void record_validated_resolution(const std::string& agg_path, Settings& s, WindowOptions& w) {
  const nlohmann::json& win = s.windows();
  const bool same_reading = w.mpp == 0 && win.contains("level") && win["level"] == w.level &&
                            (!win.contains("mpp") || win["mpp"] == 0) && win.contains("read_mpp_range");
  if (!same_reading) {
    s.sources["level_mpp"] = w.mpp > 0 ? "mpp recipe" : "not recorded";
    return;
  }
  const nlohmann::json& r = win["read_mpp_range"];
  const bool ok = r.is_array() && r.size() == 2 && r[0].is_number() && r[1].is_number() &&
                  plausible_read_mpp(r[0].get<double>()) && plausible_read_mpp(r[1].get<double>()) &&
                  r[1].get<double>() >= r[0].get<double>();
  if (!ok)
    throw InputError(agg_path, "window setting 'read_mpp_range' is not [min, max] um/px within " +
                                   plausible_read_mpp_text() + ": " + r.dump().substr(0, 80));
  w.level_mpp_min = r[0].get<double>();
  w.level_mpp_max = r[1].get<double>();
  s.sources["level_mpp"] = agg_path;
}

}  // namespace

BundleMade make_bundle(const BundleOptions& o) {
  std::map<std::string, std::string> meta;
  Model model = load_model(o.model, &meta);
  const nlohmann::json agg_json = read_json_file(o.aggregator);
  if (!agg_json.is_object()) throw InputError(o.aggregator, "not a JSON object");
  BundleMade made;
  Recipe& r = made.recipe;
  r.aggregator = Aggregator::from_json(agg_json, o.aggregator);
  if (r.aggregator.classes != model.classes)
    throw InputError(o.aggregator, "its classes differ from those of " + o.model);

  Settings s(o.aggregator, agg_json);
  if (s.windows().contains("patch_size") && s.windows()["patch_size"] != model.patch_size)
    throw InputError(o.aggregator, "its predictions used patch size " + s.windows()["patch_size"].dump() + ", " +
                                       o.model + " has " + std::to_string(model.patch_size));
  WindowOptions& w = r.windows;
  w.patch_size = model.patch_size;
  if (o.level || o.mpp) {
    w.level = o.level.value_or(0);
    w.mpp = o.mpp.value_or(0.0);
    s.sources["level"] = s.sources["mpp"] = o.level ? "--level" : "--mpp";
    // The model and the aggregator's thresholds were fitted on slides read the predictions' way.
    const nlohmann::json& win = s.windows();
    const double then_mpp = win.contains("mpp") && win["mpp"].is_number() ? win["mpp"].get<double>() : 0.0;
    const bool then_level = then_mpp == 0 && win.contains("level") && win["level"].is_number_integer();
    const bool differs = then_level ? (w.mpp > 0 || win["level"].get<int64_t>() != w.level)
                                    : then_mpp > 0 && (w.mpp == 0 || std::abs(w.mpp / then_mpp - 1) > 1e-6);
    if (differs)
      made.resolution_note =
          "the recipe reads slides at " +
          (w.mpp > 0 ? std::to_string(w.mpp) + " um/px" : "level " + std::to_string(w.level)) + ", the predictions " +
          o.aggregator + " was chosen on at " +
          (then_level ? "level " + std::to_string(win["level"].get<int64_t>()) : std::to_string(then_mpp) + " um/px") +
          ": the model and the aggregator's thresholds were fitted there; check the bundle on slides read its way";
  } else {
    w.level = s.get<int>(std::nullopt, "level", "--level or --mpp");
    w.mpp = s.get<double>(std::nullopt, "mpp", "--level or --mpp");
  }
  w.overlap = s.get(o.overlap, "overlap", "--overlap");
  w.tissue = parse_tissue_method(s.get(o.tissue, "tissue", "--tissue"));
  const WindowOptions defaults;
  w.purple.threshold =
      s.get(o.purple_threshold, "purple_threshold", "--purple-threshold", std::optional(defaults.purple.threshold));
  w.purple.scale = s.get(o.purple_scale, "purple_scale", "--purple-scale", std::optional(defaults.purple.scale));
  w.otsu_min_fraction =
      s.get(o.otsu_min_fraction, "otsu_min_fraction", "--otsu-min-fraction", std::optional(defaults.otsu_min_fraction));
  DS_CHECK_INPUT(w.level >= 0, "--level must be >= 0");
  DS_CHECK_INPUT(w.mpp >= 0, "--mpp must be positive");
  DS_CHECK_INPUT(w.overlap >= 1, "--overlap must be >= 1, got " + std::to_string(w.overlap));
  DS_CHECK_INPUT(w.purple.scale >= 1 && w.purple.scale <= w.patch_size, "--purple-scale must be in [1, patch size]");
  DS_CHECK_INPUT(w.otsu_min_fraction >= 0 && w.otsu_min_fraction <= 1, "--otsu-min-fraction must be in [0, 1]");
  record_validated_resolution(o.aggregator, s, w);
  made.sources = s.sources;

  ojson& p = made.provenance;
  p["deepslide_version"] = DEEPSLIDE_VERSION;
  // (No creation time: the same model, aggregator and flags give the same bytes, so diagnose's
  // results made with an earlier, identical bundle stay current.)
  p["model"] = {{"file", fs::path(o.model).filename().string()}, {"content_hash", file_content_hash(o.model)}};
  if (ojson t = training_summary(o.model, meta); !t.empty()) p["training"] = t;
  ojson v = ojson::object();
  v["file"] = fs::path(o.aggregator).filename().string();
  for (const char* key : {"name", "mean_class_accuracy", "validation_slides", "selection"})
    if (agg_json.contains(key)) v[key] = agg_json[key];
  p["validation"] = v;
  p["recipe_sources"] = made.sources;
  // A bundle killed mid-write leaves a temporary as large as the model: swept before writing
  // (only this file's: the folder is the user's, not deepslide's).
  remove_dead_temporaries(fs::path(o.out).parent_path().empty() ? "." : fs::path(o.out).parent_path().string(), 0,
                          fs::path(o.out).filename().string());
  save_model(o.out, model, bundle_metadata(r, p));
  return made;
}

}  // namespace ds
