// deepslide evaluate (stage 7): flags, one call to infer/evaluation.h's evaluate (which writes
// OUT/metrics.json, OUT/confusion.csv and OUT/slides.csv), and the metrics printed for users.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "infer/evaluation.h"

namespace ds::cli {

namespace {

void print_evaluation(const Evaluation& e) {
  const Metrics& m = e.metrics;
  const BootstrapCI& ci = *e.ci;
  std::printf("evaluate: %zu slides, aggregator %s\n", (size_t)e.slides, e.aggregator.c_str());
  std::printf("accuracy %.4f [%.4f, %.4f]  mean class accuracy %.4f  macro F1 %.4f [%.4f, %.4f]  macro AUC %s\n",
              m.accuracy, ci.accuracy.lo, ci.accuracy.hi, m.mean_class_accuracy, m.macro_f1, ci.macro_f1.lo,
              ci.macro_f1.hi, std::isnan(m.macro_auc) ? "n/a" : std::to_string(m.macro_auc).c_str());
  std::printf("%-12s %8s %8s %8s %8s %8s\n", "class", "support", "prec", "recall", "f1", "auc");
  for (size_t k = 0; k < e.classes.size(); ++k) {
    const ClassMetrics& c = m.per_class[k];
    std::printf("%-12s %8lld %8.4f %8.4f %8.4f %8s\n", e.classes[k].c_str(), (long long)c.support, c.precision,
                c.recall, c.f1, std::isnan(c.auc) ? "n/a" : std::to_string(c.auc).substr(0, 6).c_str());
  }
  std::printf("confusion (rows gt, columns predicted):\n%s", confusion_csv_text(e).c_str());
}

}  // namespace

void register_evaluate(CLI::App& app, Globals& g) {
  auto o = std::make_shared<EvaluateOptions>();
  auto* sub = app.add_subcommand("evaluate", "Stage 7: slide-level metrics on the test slides");
  sub->add_option("--preds", o->preds, "Folder of prediction CSVs (from predict)")->required();
  sub->add_option("--labels", o->labels, "Label CSV (img,gt) of the test slides")->required();
  sub->add_option("--aggregator", o->aggregator, "aggregator.json from search")->required();
  sub->add_option("--out", o->out, "Output folder (metrics.json, confusion.csv, slides.csv)")->required();
  sub->add_option("--bootstrap", o->bootstrap, "Bootstrap resamples for the 95% intervals")->capture_default_str();
  sub->add_option("--seed", o->seed, "Bootstrap seed")->capture_default_str();
  sub->callback([o] { print_evaluation(evaluate(*o)); });
}

}  // namespace ds::cli
