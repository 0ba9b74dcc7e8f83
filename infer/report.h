// deepslide report: one self-contained offline HTML file for a run folder. Reads (defaults under
// the run folder): eval/metrics.json and eval/slides.csv (required), search/aggregator.json,
// preds/predict.json, vis/visualize.json and its PNGs, and log.csv or train/log.csv; where eval/,
// search/, preds/ or vis/ is missing, the `deepslide run` workdir's inference_test/,
// inference_val/, preds_test/ and vis_test/. Images are
// embedded as data URIs and charts are inline SVG (infer/report_html.h); nothing outside the
// file is referenced. With a cross-validation summary, a table of the test metrics over folds;
// with --compare, a table of other evaluations' accuracies (infer/report_compare.h).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace ds {

struct ReportOptions {
  std::string run;  // the run folder
  std::string out;  // the HTML file to write
  // Each stage's output folder and the training log; "" for the default under `run`.
  std::string eval, search, preds, vis, log;
  // A cross-validation summary (crossval.json, infer/crossval.h) to show as a table; "" for none.
  std::string crossval;
  // Other evaluations to show side by side ("LABEL=FOLDER", infer/report_compare.h) under a heading.
  std::vector<std::string> compare;
  std::string compare_title = "Comparison";
};

struct ReportSummary {
  size_t bytes = 0;     // of the HTML file
  int images = 0;       // pictures embedded
  std::string compare;  // --compare's table as text lines ("" without it)
};

// Reads the run's outputs and writes the report; prints nothing.
ReportSummary write_report(const ReportOptions& opt);

}  // namespace ds
