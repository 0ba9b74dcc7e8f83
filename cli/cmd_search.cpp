// deepslide search (stage 5): picks the slide-level aggregation on validation slides by mean
// class accuracy (infer/aggregator.h) and writes OUT/aggregator.json plus one CSV per candidate
// in DeepSlide's inference format (OUT/candidates/<name>.csv).
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "base/error.h"
#include "infer/aggregator.h"
#include "infer/labelled_predictions.h"
#include "base/atomic_file.h"

namespace fs = std::filesystem;

namespace ds::cli {

namespace {

struct SearchOpts {
  std::string preds, labels, out, thresholds = "0.3,0.4,0.5,0.6,0.7,0.8,0.9";
};

std::vector<double> parse_grid(const std::string& s) {
  std::vector<double> v;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    double t = -1;
    try {
      t = std::stod(item, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !(t >= 0 && t < 1))
      throw InputError("--thresholds", "'" + item + "' is not a number in [0, 1)");
    v.push_back(t);
  }
  if (v.empty()) throw InputError("--thresholds", "empty list");
  return v;
}

void run_search(const SearchOpts& o) {
  std::vector<double> grid = parse_grid(o.thresholds);
  LabelledPredictions lp = load_labelled_predictions(o.preds, o.labels);
  SearchResult r = search_aggregators(lp.slides, lp.gt, lp.classes, grid);
  fs::create_directories(fs::path(o.out) / "candidates");
  nlohmann::ordered_json cands = nlohmann::ordered_json::array();
  for (const Candidate& c : r.candidates) {
    const std::string file = "candidates/" + c.name + ".csv";
    write_text_atomic((fs::path(o.out) / file).string(), inference_csv_text(lp.imgs, c.decisions, lp.classes));
    nlohmann::ordered_json cj = c.agg.to_json();
    cj["name"] = c.name;
    cj["mean_class_accuracy"] = c.mean_class_accuracy;
    cj["csv"] = file;
    cands.push_back(cj);
    std::printf("%-18s mean class accuracy %.4f\n", c.name.c_str(), c.mean_class_accuracy);
  }
  const Candidate& best = r.candidates[r.best];
  nlohmann::ordered_json j = best.agg.to_json();
  j["name"] = best.name;
  j["mean_class_accuracy"] = best.mean_class_accuracy;
  j["validation_slides"] = lp.slides.size();
  j["threshold_grid"] = grid;
  j["logistic_offered"] = r.logistic_offered;
  j["logistic_rule"] = "offered only when every class has at least " +
                       std::to_string(kLogisticMinSlidesPerClass) + " validation slides";
  j["selection"] = "highest validation mean class accuracy; ties go to the earlier candidate "
                   "(shared thresholds ascending, per_class, majority, mean_probability, logistic)";
  j["candidates"] = cands;
  write_text_atomic((fs::path(o.out) / "aggregator.json").string(), j.dump(2) + "\n");
  std::printf("search: chose %s (mean class accuracy %.4f on %zu validation slides)%s; wrote %s\n",
              best.name.c_str(), best.mean_class_accuracy, lp.slides.size(),
              r.logistic_offered ? "" : "; logistic regression not offered (too few validation slides)",
              (fs::path(o.out) / "aggregator.json").string().c_str());
}

}  // namespace

void register_search(CLI::App& app, Globals& g) {
  auto o = std::make_shared<SearchOpts>();
  auto* sub = app.add_subcommand("search", "Stage 5: choose the slide-level aggregation on validation slides");
  sub->add_option("--preds", o->preds, "Folder of prediction CSVs (from predict)")->required();
  sub->add_option("--labels", o->labels, "Label CSV (img,gt) of the validation slides")->required();
  sub->add_option("--out", o->out, "Output folder (aggregator.json, candidates/)")->required();
  sub->add_option("--thresholds", o->thresholds, "Confidence thresholds to try, comma separated")
      ->capture_default_str();
  sub->callback([o] { run_search(*o); });
}

}  // namespace ds::cli
