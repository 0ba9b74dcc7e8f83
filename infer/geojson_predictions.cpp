// Prediction CSVs (and predict.json's window sides) to QuPath GeoJSON files.
#include "infer/geojson_predictions.h"

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "base/json_bounded.h"
#include "base/safe_names.h"
#include "infer/prediction_csv.h"
#include "infer/prediction_key.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

// No window is wider than the widest slide the reader opens (2^20 px a side).
constexpr int64_t kMaxWindowSide = int64_t{1} << 20;

bool is_json(const std::string& p) {
  const std::string e = fs::path(p).extension().string();
  return e == ".json" || e == ".geojson";
}

// The window side of slide `stem` from predict.json; 0 when it is not recorded there.
int64_t side_from_meta(const nlohmann::json& meta, const std::string& stem, const std::string& where) {
  if (!meta.contains("slides") || !meta["slides"].is_object() || !meta["slides"].contains(stem)) return 0;
  const auto& s = meta["slides"][stem];
  if (!s.contains("window_side") || !s["window_side"].is_number_integer() || s["window_side"].get<int64_t>() <= 0 ||
      s["window_side"].get<int64_t>() > kMaxWindowSide)
    throw InputError(where, "slide '" + stem + "' has no window_side in [1, " + std::to_string(kMaxWindowSide) + "]");
  return s["window_side"].get<int64_t>();
}

std::string write_one(const std::string& csv, int64_t side, const std::string& out, const GeoJsonOptions& opt) {
  const SlidePredictions p = read_prediction_csv(csv);
  std::vector<WindowProbabilities> w;
  w.reserve(p.patches.size());
  for (const PatchPrediction& q : p.patches) w.push_back({q.x, q.y, side, q.probs});
  try {
    write_qupath_geojson(out, w, p.classes, opt);
  } catch (const InputError& e) {  // the windows' problems (too many contour cells...) are the CSV's
    throw InputError(naming_file(csv, e.what()));
  }
  return out;
}

}  // namespace

std::vector<std::string> write_geojson_from_predictions(const GeoJsonFromPredictions& o) {
  DS_CHECK_INPUT(o.window_side >= 0 && o.window_side <= kMaxWindowSide,
                 "--window-side must be in [1, " + std::to_string(kMaxWindowSide) + "]");
  std::vector<std::string> written;
  if (fs::path(o.predictions).extension() == ".json") {  // predict.json: every slide it lists
    const nlohmann::json meta = read_json_file(o.predictions);
    if (!meta.contains("slides") || !meta["slides"].is_object())
      throw InputError(o.predictions, "not a predict.json (no slides object)");
    fs::create_directories(o.out);
    for (const auto& [stem, s] : meta["slides"].items()) {
      if (!s.contains("csv") || !s["csv"].is_string())
        throw InputError(o.predictions, "slide '" + stem + "' has no csv");
      // Both name files beside predict.json / in --out: one plain name each, as predict writes them.
      for (const std::string& name : {stem, s["csv"].get<std::string>()})
        if (const std::string why = unsafe_component_reason(name); !why.empty())
          throw InputError(o.predictions, "slide '" + quoted_for_message(stem) + "': " + why);
      const std::string csv = (fs::path(o.predictions).parent_path() / s["csv"].get<std::string>()).string();
      const int64_t side = o.window_side ? o.window_side : side_from_meta(meta, stem, o.predictions);
      // Only a CSV predict finished, as search and evaluate read them (infer/prediction_index.h).
      if (const std::string why = finished_refusal(csv); !why.empty())
        throw InputError(csv, why + " (predict it again)");
      written.push_back(write_one(csv, side, (fs::path(o.out) / (stem + ".geojson")).string(), o.geojson));
    }
    return written;
  }
  // Before the side is looked up: a missing CSV is the problem to name, not its window side.
  if (!std::ifstream(o.predictions)) throw InputError(o.predictions, "cannot open");
  const std::string stem = fs::path(o.predictions).stem().string();
  int64_t side = o.window_side;
  const fs::path beside = fs::path(o.predictions).parent_path() / "predict.json";
  if (side == 0 && fs::exists(beside)) side = side_from_meta(read_json_file(beside.string()), stem, beside.string());
  if (side == 0)
    throw InputError(o.predictions,
                     "window side unknown: give --window-side (no predict.json beside the CSV records it)");
  std::string out = o.out;
  if (!is_json(out)) {
    fs::create_directories(out);
    out = (fs::path(out) / (stem + ".geojson")).string();
  }
  written.push_back(write_one(o.predictions, side, out, o.geojson));
  return written;
}

}  // namespace ds
