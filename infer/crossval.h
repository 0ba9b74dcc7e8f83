// Cross-validation summary of `deepslide run` with `[split] folds = K`: the test metrics of every
// fold (each fold's metrics.json, written by evaluate) and, per metric, their mean and spread
// (sample standard deviation, min, max) over the folds, as WORKDIR/crossval.json
// (docs/formats.md) and a table in each fold's report.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ds {

struct MetricSpread {
  std::string name;                           // "accuracy", "mean_class_accuracy", "macro_f1", "macro_auc"
  std::vector<double> values;                 // one per fold, NaN where the fold's value is undefined
  int n = 0;                                  // folds with a defined value
  double mean = 0, sd = 0, min = 0, max = 0;  // over the defined values; sd NaN when n < 2, all NaN when n = 0
};

struct CrossValidation {
  std::vector<std::string> folds;  // "fold0", ...
  std::vector<int64_t> slides;     // test slides per fold
  std::vector<MetricSpread> metrics;

  nlohmann::ordered_json to_json() const;
  // InputError naming `where` when a key is missing or has the wrong type. Metrics keep the
  // file's order.
  static CrossValidation from_json(const nlohmann::ordered_json& j, const std::string& where);
};

// Mean, sample standard deviation (n - 1), min and max of the finite values.
MetricSpread spread(const std::string& name, const std::vector<double>& values);

// Reads each fold's metrics.json (infer/evaluation.h; InputError naming the file that is missing
// or invalid) and summarizes them; names[k] names metrics_paths[k].
CrossValidation summarize_folds(const std::vector<std::string>& names, const std::vector<std::string>& metrics_paths);

void write_crossval(const CrossValidation& c, const std::string& path);  // atomic
CrossValidation read_crossval(const std::string& path);

}  // namespace ds
