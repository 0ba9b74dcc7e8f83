// The output naming rule and the predict.json lookup behind it.
#include "infer/prediction_index.h"

#include <filesystem>

#include "base/error.h"
#include "base/file_hash.h"
#include "base/hash.h"
#include "base/json_bounded.h"
#include "base/safe_names.h"
#include "infer/prediction_key.h"
#include "slide/windows/labels_csv.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

// Room left in a 255-byte file name for ".partial.tmp.<pid>.<n>" and similar suffixes.
constexpr size_t kMaxName = 200;
constexpr size_t kCutName = 160;

}  // namespace

std::string slide_output_name(const std::string& relative_path) {
  std::string name;
  for (char c : relative_path) {
    if (c == '%') name += "%25";
    else if (c == '/') name += "%2F";
    else name += c;
  }
  if (name.size() <= kMaxName) return name;
  name.resize(kCutName);
  // Do not end inside an escape ("%2" + 'F' cut off would read as another character).
  const size_t pct = name.rfind('%');
  if (pct != std::string::npos && pct + 3 > name.size()) name.resize(pct);
  return name + "%h" + hex64(fnv1a(relative_path.data(), relative_path.size()));
}

std::string slide_relative_path(const std::string& all_wsi, const std::string& slide_path) {
  fs::path rel = fs::path(slide_path).lexically_normal().lexically_relative(fs::path(all_wsi).lexically_normal());
  if (rel.empty() || *rel.begin() == "..") rel = fs::path(slide_path).lexically_normal();  // outside: as given
  return rel.generic_string();
}

PredictionIndex::PredictionIndex(const std::string& preds_dir)
    : dir_(preds_dir), path_((fs::path(preds_dir) / "predict.json").string()) {
  std::error_code ec;
  if (!fs::is_regular_file(path_, ec)) return;
  j_ = read_json_file(path_);
  has_file_ = true;
  if (!j_.is_object() || !j_.contains("slides") || !j_["slides"].is_object())
    throw InputError(path_, "not a predict.json (needs a \"slides\" object)");
}

std::string PredictionIndex::name_for(const SlideLabel& row) const {
  if (has_file_)
    for (const auto& [name, e] : j_["slides"].items())
      if (e.is_object() && e.contains("img") && e["img"] == row.img && e.contains("gt") && e["gt"] == row.gt &&
          unsafe_component_reason(name).empty())  // a name is one file name in the folder, never a path
        return name;
  const std::string direct = slide_output_name(fs::path(row.img).lexically_normal().generic_string());
  const std::string in_class = slide_output_name((fs::path(row.gt) / row.img).lexically_normal().generic_string());
  std::error_code ec;
  if (!fs::exists(fs::path(dir_) / (direct + ".csv"), ec) && fs::exists(fs::path(dir_) / (in_class + ".csv"), ec))
    return in_class;
  return direct;
}

std::string PredictionIndex::refusal(const std::string& name) const {
  std::error_code ec;
  if (!has_file_) return fs::exists(csv_of(name), ec) ? "" : "no CSV";
  if (!(j_.contains("slides") && j_["slides"].is_object() && j_["slides"].contains(name)))
    return "not listed in " + path_;
  return finished_refusal(csv_of(name));
}

std::string PredictionIndex::csv_of(const std::string& name) const {
  return (fs::path(dir_) / (name + ".csv")).string();
}

}  // namespace ds
