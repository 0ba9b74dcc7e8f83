// Loads the prediction CSVs of the slides of a label CSV (found through PREDS/predict.json,
// infer/prediction_index.h), checks that
// every slide has one, that all share the same classes and that every ground truth is one of
// them; search and evaluate both start here.
#pragma once
#include <string>
#include <vector>

#include "infer/aggregate.h"

namespace ds {

struct LabelledPredictions {
  std::vector<std::string> classes;
  std::vector<std::string> imgs;  // as in the label CSV
  std::vector<int> gt;            // class index
  std::vector<SlideSummary> slides;
};

// InputError listing the slides without a CSV, or naming the file that disagrees.
LabelledPredictions load_labelled_predictions(const std::string& preds_dir, const std::string& labels_csv);

}  // namespace ds
