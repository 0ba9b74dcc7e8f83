// The slide loop of predict, and predict.json.
#include "infer/predict.h"

#include <chrono>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/error.h"
#include "slide/windows/labels_csv.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

using ojson = nlohmann::ordered_json;

void write_json(const std::string& path, const ojson& j) { write_text_atomic(path, j.dump(2) + "\n"); }

// predict.json as an earlier run left it (its slides are kept), with this run's settings.
ojson predict_meta(const std::string& path, const Model& model, const PredictSlidesOptions& o) {
  ojson meta;
  if (fs::exists(path)) {
    std::ifstream in(path);
    meta = ojson::parse(in, nullptr, false);
    if (meta.is_discarded() || !meta.is_object()) meta = ojson::object();
  }
  const WindowOptions& w = o.predict.windows;
  meta["model"] = o.model_path;
  meta["classes"] = model.classes;
  meta["patch_size"] = model.patch_size;
  meta["overlap"] = w.overlap;
  meta["level"] = w.level;
  meta["mpp"] = w.mpp;
  meta["tissue"] = tissue_method_name(w.tissue);
  meta["purple_threshold"] = w.purple.threshold;
  meta["purple_scale"] = w.purple.scale;
  meta["otsu_min_fraction"] = w.otsu_min_fraction;
  meta["batch_size"] = o.predict.batch_size;
  if (!meta.contains("slides")) meta["slides"] = ojson::object();
  return meta;
}

// One slide: skipped when its CSV exists (unless force), else predicted, its CSV written and
// its entry added to predict.json.
SlideOutcome predict_one(Model& model, const PredictSlidesOptions& o, const SlideLabel& row, ojson& meta,
                         const std::string& meta_path) {
  SlideOutcome r;
  r.img = row.img;
  const std::string path = resolve_slide_path(o.all_wsi, row, o.labels);
  const std::string stem = fs::path(path).stem().string();
  r.csv = (fs::path(o.out) / (stem + ".csv")).string();
  if (!o.force && fs::exists(r.csv)) {
    r.status = SlideOutcome::Status::skipped;
    return r;
  }
  auto slide = Slide::open(path);
  SlidePredictions p = predict_slide(model, *slide, o.predict, &r.stats);
  write_prediction_csv(r.csv, p);
  ReadGeometry geo = read_geometry(*slide, o.predict.windows);
  meta["slides"][stem] = {{"img", row.img}, {"gt", row.gt}, {"path", path}, {"csv", stem + ".csv"},
                          {"window_side", geo.level0_side()}, {"read_level", geo.level},
                          {"windows", r.stats.windows}, {"candidates", r.stats.candidates}};
  write_json(meta_path, meta);
  return r;
}

}  // namespace

PredictSummary predict_slides(Model& model, const PredictSlidesOptions& o,
                              const std::function<void(const SlideOutcome&)>& on_slide) {
  const std::vector<SlideLabel> rows = read_labels_csv(o.labels);
  fs::create_directories(o.out);
  const std::string meta_path = (fs::path(o.out) / "predict.json").string();
  ojson meta = predict_meta(meta_path, model, o);
  PredictSummary sum;
  sum.slides = rows.size();
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t si = 0; si < rows.size(); ++si) {
    SlideOutcome r;
    try {
      r = predict_one(model, o, rows[si], meta, meta_path);
    } catch (const std::runtime_error& e) {  // InputError and InternalError: this slide only
      r.img = rows[si].img;
      r.status = SlideOutcome::Status::failed;
      r.error = e.what();
      sum.failed.emplace_back(r.img, r.error);
    }
    r.index = si;
    r.count = rows.size();
    if (r.status == SlideOutcome::Status::skipped) sum.skipped.push_back(r.img);
    if (r.status == SlideOutcome::Status::predicted) {
      sum.windows += r.stats.windows;
      sum.net_seconds += r.stats.net_seconds;
      if (r.stats.windows == 0) sum.empty.push_back(r.img);
    }
    if (on_slide) on_slide(r);
  }
  write_json(meta_path, meta);
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace ds
