// A chosen slide-level aggregation method with its parameters (search's output, evaluate's
// input, stored as aggregator.json), and the stage 5 search that picks it on validation slides.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infer/aggregate.h"
#include "infer/logistic.h"

namespace ds {

struct Aggregator {
  std::string method;  // "threshold" | "majority" | "mean_probability" | "logistic"
  std::vector<std::string> classes;
  std::vector<double> thresholds;  // "threshold": one per class
  LogisticModel logistic;          // "logistic"
  SlideDecision apply(const SlideSummary& s) const;
  nlohmann::ordered_json to_json() const;
  // InputError naming `where` when the JSON is not a valid aggregator.
  static Aggregator from_json(const nlohmann::json& j, const std::string& where);
};

struct Candidate {
  std::string name;  // "shared_0.5", "per_class", "majority", "mean_probability", "logistic"
  Aggregator agg;
  double mean_class_accuracy = 0;
  std::vector<SlideDecision> decisions;  // per validation slide
};

struct SearchResult {
  std::vector<Candidate> candidates;  // in the order they are tried (the tie-break order)
  size_t best = 0;                    // first candidate with the highest mean class accuracy
  bool logistic_offered = false;
};

// Tries, in this order: DeepSlide's shared threshold for each value of `grid` (ascending, so on a
// tie the lowest threshold wins, as DeepSlide's sorted file names do), per-class thresholds by
// coordinate search from the best shared one (a change is kept only if it strictly improves),
// majority vote, mean probability, and logistic regression when logistic_allowed(gt).
// A later candidate replaces the best only if strictly better.
SearchResult search_aggregators(const std::vector<SlideSummary>& slides, const std::vector<int>& gt,
                                const std::vector<std::string>& classes, std::vector<double> grid);

// DeepSlide's inference CSV for a set of slides: img,predicted,percent_<class>...,count_<class>...
// (percent_ holds the method's slide score; count_ the threshold-passing patches or votes).
std::string inference_csv_text(const std::vector<std::string>& imgs, const std::vector<SlideDecision>& d,
                               const std::vector<std::string>& classes);

}  // namespace ds
