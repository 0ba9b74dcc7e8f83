// deepslide search (stage 5): flags, one call to infer/search.h's choose_aggregator (which writes
// OUT/aggregator.json and OUT/candidates/<name>.csv), and each candidate's score printed.
#include <cstdio>
#include <memory>
#include <sstream>

#include "base/error.h"
#include "cli/commands.h"
#include "infer/search.h"

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
  const SearchOutcome s = choose_aggregator({o.preds, o.labels, o.out, parse_grid(o.thresholds)});
  for (const Candidate& c : s.result.candidates)
    std::printf("%-18s mean class accuracy %.4f\n", c.name.c_str(), c.mean_class_accuracy);
  const Candidate& best = s.result.candidates[s.result.best];
  std::printf("search: chose %s (mean class accuracy %.4f on %zu validation slides)%s; wrote %s\n", best.name.c_str(),
              best.mean_class_accuracy, s.validation_slides,
              s.result.logistic_offered ? "" : "; logistic regression not offered (too few validation slides)",
              s.aggregator_json.c_str());
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
