// Stage 7, evaluate: the test slides' prediction CSVs through the aggregator chosen on the
// validation slides (aggregator.json), scored with infer/metrics.h, written as OUT/metrics.json
// (accuracy, mean_class_accuracy, macro_f1, macro_auc, confusion, per_class, ci95, roc curves, and
// the window-level accuracy),
// OUT/confusion.csv and OUT/slides.csv. metrics.json's keys are listed once (evaluation.cpp):
// evaluate writes the file with them and report reads it back with them.
#pragma once
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "infer/metrics.h"

namespace ds {

// One class's ROC curve as (false positive rate, true positive rate) points.
using RocCurve = std::vector<std::pair<double, double>>;

// What metrics.json holds.
struct Evaluation {
  std::string aggregator;  // the aggregator's name (aggregator.json's "name", else its method)
  int64_t slides = 0;
  std::vector<std::string> classes;
  // Window (patch) level: every window of a slide scored against its slide's class, as a slide of
  // one class throughout (DeepSlide's labels) is; NaN in a metrics.json written before these keys.
  int64_t windows = 0;
  double window_accuracy = std::numeric_limits<double>::quiet_NaN();
  Metrics metrics;                           // NaN where a value is undefined (written as null)
  std::optional<BootstrapCI> ci;             // 95% intervals ("ci95")
  std::optional<std::vector<RocCurve>> roc;  // one curve per class, slide scores one-vs-rest

  nlohmann::ordered_json to_json() const;
  // InputError naming `where` when a key the report needs is missing or a value has the wrong
  // type. ci95 and roc are optional; a missing per-class number reads as NaN.
  static Evaluation from_json(const nlohmann::json& j, const std::string& where);
};

// Reads metrics.json (InputError when it cannot be opened or is not a valid one).
Evaluation read_evaluation(const std::string& path);

struct EvaluateOptions {
  std::string preds;       // folder of prediction CSVs
  std::string labels;      // label CSV (img,gt) of the test slides
  std::string aggregator;  // aggregator.json from search
  std::string out;         // output folder
  int bootstrap = 1000;    // resamples for the 95% intervals
  uint64_t seed = 1;       // bootstrap seed
};

// The whole stage: reads the inputs, scores the slides, writes the three files into OUT and
// returns what metrics.json holds. Prints nothing.
Evaluation evaluate(const EvaluateOptions& opt);

// confusion.csv: `gt\predicted,<class>...`, then one row of counts per ground-truth class.
std::string confusion_csv_text(const Evaluation& e);

}  // namespace ds
