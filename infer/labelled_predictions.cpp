// Joining a label CSV with a folder of prediction CSVs.
#include "infer/labelled_predictions.h"

#include <filesystem>

#include "base/error.h"
#include "base/format.h"
#include "infer/prediction_index.h"
#include "slide/windows/labels_csv.h"

namespace fs = std::filesystem;

namespace ds {

LabelledPredictions load_labelled_predictions(const std::string& preds_dir, const std::string& labels_csv) {
  auto rows = read_labels_csv(labels_csv);
  DS_CHECK_INPUT(!rows.empty(), labels_csv + ": no slides");
  const PredictionIndex index(preds_dir);
  LabelledPredictions lp;
  std::vector<std::string> missing;
  for (const auto& row : rows) {
    const std::string name = index.name_for(row);  // (scans predict.json's entries: once per row)
    const fs::path csv = index.csv_of(name);
    if (const std::string why = index.refusal(name); !why.empty()) {
      missing.push_back(csv.string() + " (" + why + ")");
      continue;
    }
    SlidePredictions p = read_prediction_csv(csv.string());
    if (lp.classes.empty()) lp.classes = p.classes;
    if (p.classes != lp.classes) throw InputError(csv.string(), "classes differ from the other prediction CSVs");
    int g = -1;
    for (size_t k = 0; k < lp.classes.size(); ++k)
      if (lp.classes[k] == row.gt) g = (int)k;
    if (g < 0) {
      std::string known;
      for (const std::string& c : lp.classes) known += (known.empty() ? "" : ", ") + c;
      throw InputError(labels_csv, row.img + ": ground truth '" + row.gt +
                                       "' is not one of the prediction CSVs' classes (" + known + ")");
    }
    lp.imgs.push_back(row.img);
    lp.gt.push_back(g);
    lp.slides.push_back(summarize(name, p));
  }
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 5; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 5) list += ", ...";
    throw InputError(labels_csv, count_text((long long)missing.size(), "slide") +
                                     (missing.size() == 1 ? " has" : " have") +
                                     (index.has_file() ? " no finished prediction CSV listed in " + index.path() +
                                                             " (run predict on them with its model and settings): "
                                                       : " no prediction CSV (run predict): ") +
                                     list);
  }
  return lp;
}

}  // namespace ds
