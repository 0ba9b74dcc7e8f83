// The search stage's files: aggregator.json and the candidates' CSVs.
#include "infer/search.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "base/atomic_file.h"
#include "base/json_bounded.h"
#include "infer/labelled_predictions.h"
#include "slide/windows/slide_windows.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

using ojson = nlohmann::ordered_json;

// A candidate as aggregator.json lists it: its aggregator, name, score and CSV.
ojson candidate_json(const Candidate& c, const std::string& csv) {
  ojson j = c.agg.to_json();
  j["name"] = c.name;
  j["mean_class_accuracy"] = c.mean_class_accuracy;
  j["csv"] = csv;
  return j;
}

ojson aggregator_json(const SearchResult& r, size_t slides, const std::vector<double>& grid, ojson candidates) {
  const Candidate& best = r.candidates[r.best];
  ojson j = best.agg.to_json();
  j["name"] = best.name;
  j["mean_class_accuracy"] = best.mean_class_accuracy;
  j["validation_slides"] = slides;
  j["threshold_grid"] = grid;
  j["logistic_offered"] = r.logistic_offered;
  j["logistic_rule"] =
      "offered only when every class has at least " + std::to_string(kLogisticMinSlidesPerClass) + " validation slides";
  j["selection"] =
      "highest validation mean class accuracy; ties go to the earlier candidate "
      "(shared thresholds ascending, per_class, majority, mean_probability, logistic)";
  j["candidates"] = std::move(candidates);
  return j;
}

// The window settings of the predictions searched on (predict.json's), so `deepslide bundle` can
// ship the aggregator with the recipe it was chosen under. Empty without a readable predict.json.
ojson prediction_windows(const std::string& preds, const std::vector<std::string>& imgs) {
  ojson w = ojson::object();
  nlohmann::json meta;
  try {
    meta = read_json_file((fs::path(preds) / "predict.json").string());
  } catch (const InputError&) {
    return w;
  }
  if (!meta.is_object()) return w;
  for (const char* key :
       {"patch_size", "level", "mpp", "overlap", "tissue", "purple_threshold", "purple_scale", "otsu_min_fraction"})
    if (meta.contains(key)) w[key] = meta[key];
  // The resolution the slides searched on were read at (their read_mpp), for a level-based
  // bundle's check (slide_windows.h, WindowOptions::level_mpp_min): the range over those that
  // record one (predict.json may also list slides of other label CSVs).
  const std::set<std::string> searched(imgs.begin(), imgs.end());
  double lo = 0, hi = 0;
  if (meta.contains("slides") && meta["slides"].is_object())
    for (const auto& e : meta["slides"])
      if (e.is_object() && e.contains("img") && e["img"].is_string() && searched.count(e["img"].get<std::string>()) &&
          e.contains("read_mpp") && e["read_mpp"].is_number()) {
        const double v = e["read_mpp"].get<double>();
        if (!plausible_read_mpp(v)) continue;  // (a hand edit: it would stretch the range)
        lo = lo > 0 ? std::min(lo, v) : v;
        hi = std::max(hi, v);
      }
  if (lo > 0) w["read_mpp_range"] = {lo, hi};
  return w;
}

}  // namespace

SearchOutcome choose_aggregator(const SearchOptions& o) {
  const LabelledPredictions lp = load_labelled_predictions(o.preds, o.labels);
  SearchOutcome out;
  out.result = search_aggregators(lp.slides, lp.gt, lp.classes, o.thresholds);
  out.validation_slides = lp.slides.size();
  fs::create_directories(fs::path(o.out) / "candidates");
  ojson candidates = ojson::array();
  for (const Candidate& c : out.result.candidates) {
    const std::string file = "candidates/" + c.name + ".csv";
    write_text_atomic((fs::path(o.out) / file).string(), inference_csv_text(lp.imgs, c.decisions, lp.classes));
    candidates.push_back(candidate_json(c, file));
  }
  out.aggregator_json = (fs::path(o.out) / "aggregator.json").string();
  ojson j = aggregator_json(out.result, out.validation_slides, o.thresholds, std::move(candidates));
  if (ojson w = prediction_windows(o.preds, lp.imgs); !w.empty()) j["windows"] = w;
  write_text_atomic(out.aggregator_json, j.dump(2) + "\n");
  return out;
}

}  // namespace ds
