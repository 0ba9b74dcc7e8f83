// deepslide evaluate (stage 7): applies aggregator.json to the test slides' prediction CSVs and
// prints and writes OUT/metrics.json (accuracy, mean_class_accuracy, macro_f1, macro_auc,
// confusion, per_class, ci95, roc curves), OUT/confusion.csv and OUT/slides.csv.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "base/error.h"
#include "infer/aggregator.h"
#include "infer/labelled_predictions.h"
#include "infer/metrics.h"
#include "base/atomic_file.h"

namespace fs = std::filesystem;

namespace ds::cli {

namespace {

struct EvalOpts {
  std::string preds, labels, aggregator, out;
  int bootstrap = 1000;
  uint64_t seed = 1;
};

nlohmann::ordered_json num(double v) { return std::isnan(v) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v); }

void run_evaluate(const EvalOpts& o) {
  DS_CHECK_INPUT(o.bootstrap >= 1, "--bootstrap must be at least 1");
  std::ifstream in(o.aggregator);
  if (!in) throw InputError(o.aggregator, "cannot open");
  nlohmann::json aj = nlohmann::json::parse(in, nullptr, false);
  if (aj.is_discarded()) throw InputError(o.aggregator, "not valid JSON");
  Aggregator agg = Aggregator::from_json(aj, o.aggregator);
  LabelledPredictions lp = load_labelled_predictions(o.preds, o.labels);
  if (lp.classes != agg.classes) throw InputError(o.aggregator, "classes differ from the prediction CSVs'");
  const int K = (int)lp.classes.size();
  std::vector<int> pred;
  std::vector<std::vector<double>> scores;
  std::vector<SlideDecision> decisions;
  for (const auto& s : lp.slides) {
    decisions.push_back(agg.apply(s));
    pred.push_back(decisions.back().predicted);
    scores.push_back(decisions.back().score);
  }
  Metrics m = compute_metrics(lp.gt, pred, scores, K);
  BootstrapCI ci = bootstrap_ci(lp.gt, pred, K, o.bootstrap, o.seed);

  nlohmann::ordered_json j;
  j["aggregator"] = aj.value("name", agg.method);
  j["slides"] = lp.slides.size();
  j["classes"] = lp.classes;
  j["accuracy"] = m.accuracy;
  j["mean_class_accuracy"] = m.mean_class_accuracy;
  j["macro_precision"] = m.macro_precision;
  j["macro_recall"] = m.macro_recall;
  j["macro_f1"] = m.macro_f1;
  j["macro_auc"] = num(m.macro_auc);
  j["confusion"] = m.confusion;
  nlohmann::ordered_json pc = nlohmann::ordered_json::object();
  nlohmann::ordered_json roc = nlohmann::ordered_json::object();
  for (int k = 0; k < K; ++k) {
    const ClassMetrics& c = m.per_class[(size_t)k];
    pc[lp.classes[(size_t)k]] = {{"support", c.support}, {"predicted", c.predicted}, {"accuracy", c.recall},
                                 {"precision", c.precision}, {"recall", c.recall}, {"f1", c.f1},
                                 {"auc", num(c.auc)}};
    std::vector<double> s;
    std::vector<bool> pos;
    for (size_t i = 0; i < pred.size(); ++i) {
      s.push_back(scores[i][(size_t)k]);
      pos.push_back(lp.gt[i] == k);
    }
    nlohmann::ordered_json pts = nlohmann::ordered_json::array();
    for (const RocPoint& p : roc_curve(s, pos)) pts.push_back({p.fpr, p.tpr});
    roc[lp.classes[(size_t)k]] = pts;
  }
  j["per_class"] = pc;
  j["ci95"] = {{"method", "percentile bootstrap over slides"}, {"resamples", ci.resamples}, {"seed", ci.seed},
               {"accuracy", {ci.accuracy.lo, ci.accuracy.hi}},
               {"macro_f1", {ci.macro_f1.lo, ci.macro_f1.hi}},
               {"mean_class_accuracy", {ci.mean_class_accuracy.lo, ci.mean_class_accuracy.hi}}};
  j["roc"] = roc;

  fs::create_directories(o.out);
  write_text_atomic((fs::path(o.out) / "metrics.json").string(), j.dump(2) + "\n");
  std::string conf = "gt\\predicted";
  for (const auto& c : lp.classes) conf += "," + c;
  conf += "\n";
  for (int a = 0; a < K; ++a) {
    conf += lp.classes[(size_t)a];
    for (int b = 0; b < K; ++b) conf += "," + std::to_string(m.confusion[(size_t)a][(size_t)b]);
    conf += "\n";
  }
  write_text_atomic((fs::path(o.out) / "confusion.csv").string(), conf);
  std::string sl = "img,gt,predicted";
  for (const auto& c : lp.classes) sl += ",score_" + c;
  sl += ",patches\n";
  char buf[64];
  for (size_t i = 0; i < pred.size(); ++i) {
    sl += lp.imgs[i] + "," + lp.classes[(size_t)lp.gt[i]] + "," + lp.classes[(size_t)pred[i]];
    for (double v : scores[i]) {
      std::snprintf(buf, sizeof buf, ",%.6g", v);
      sl += buf;
    }
    sl += "," + std::to_string(lp.slides[i].patches()) + "\n";
  }
  write_text_atomic((fs::path(o.out) / "slides.csv").string(), sl);

  std::printf("evaluate: %zu slides, aggregator %s\n", pred.size(), j["aggregator"].get<std::string>().c_str());
  std::printf("accuracy %.4f [%.4f, %.4f]  mean class accuracy %.4f  macro F1 %.4f [%.4f, %.4f]  macro AUC %s\n",
              m.accuracy, ci.accuracy.lo, ci.accuracy.hi, m.mean_class_accuracy, m.macro_f1, ci.macro_f1.lo,
              ci.macro_f1.hi, std::isnan(m.macro_auc) ? "n/a" : std::to_string(m.macro_auc).c_str());
  std::printf("%-12s %8s %8s %8s %8s %8s\n", "class", "support", "prec", "recall", "f1", "auc");
  for (int k = 0; k < K; ++k) {
    const ClassMetrics& c = m.per_class[(size_t)k];
    std::printf("%-12s %8lld %8.4f %8.4f %8.4f %8s\n", lp.classes[(size_t)k].c_str(), (long long)c.support,
                c.precision, c.recall, c.f1, std::isnan(c.auc) ? "n/a" : std::to_string(c.auc).substr(0, 6).c_str());
  }
  std::printf("confusion (rows gt, columns predicted):\n%s", conf.c_str());
}

}  // namespace

void register_evaluate(CLI::App& app, Globals& g) {
  auto o = std::make_shared<EvalOpts>();
  auto* sub = app.add_subcommand("evaluate", "Stage 7: slide-level metrics on the test slides");
  sub->add_option("--preds", o->preds, "Folder of prediction CSVs (from predict)")->required();
  sub->add_option("--labels", o->labels, "Label CSV (img,gt) of the test slides")->required();
  sub->add_option("--aggregator", o->aggregator, "aggregator.json from search")->required();
  sub->add_option("--out", o->out, "Output folder (metrics.json, confusion.csv, slides.csv)")->required();
  sub->add_option("--bootstrap", o->bootstrap, "Bootstrap resamples for the 95% intervals")->capture_default_str();
  sub->add_option("--seed", o->seed, "Bootstrap seed")->capture_default_str();
  sub->callback([o] { run_evaluate(*o); });
}

}  // namespace ds::cli
