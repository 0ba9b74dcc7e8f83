// The report, section by section: test metrics, per class, confusion matrix, ROC curves,
// aggregation, slides with their pictures, training curves, settings.
#include "infer/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/json_bounded.h"
#include "infer/crossval.h"
#include "infer/evaluation.h"
#include "infer/report_compare.h"
#include "infer/report_html.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ds {

namespace {

using CsvRows = std::vector<std::vector<std::string>>;

// Everything the report shows, read before any HTML is written.
struct RunOutputs {
  std::string run, search, vis, log;  // folders and the training log ("" when there is none)
  Evaluation eval;
  CsvRows slides;                       // eval/slides.csv, header first
  json aggregator, predict, visualize;  // null when the file is absent
  std::optional<CrossValidation> crossval;
  std::vector<CompareRow> compare;  // --compare's evaluations
};

const char* kStyle = R"(body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f2f2f2}td.l,th.l{text-align:left}.ci{color:#666;font-size:90%}.ok{color:#1a7f37}.bad{color:#c62828}
.slide{border:1px solid #ddd;padding:8px;margin:12px 0}.imgs img{margin:4px;vertical-align:top;border:1px solid #eee}
.charts svg{margin-right:16px}pre{background:#f7f7f7;padding:8px;overflow:auto})";

// A file the report can do without: null when it cannot be opened.
json read_optional_json(const std::string& path) {
  if (!std::ifstream(path)) return json();
  return read_json_file(path);
}

// The folder given, else the first of `subs` under the run folder that exists (the layout of
// DeepSlide-style runs first, then that of a `deepslide run` workdir), else the first.
std::string or_default(const std::string& v, const std::string& run, std::initializer_list<const char*> subs) {
  if (!v.empty()) return v;
  for (const char* sub : subs)
    if (fs::is_directory(fs::path(run) / sub)) return (fs::path(run) / sub).string();
  return (fs::path(run) / *subs.begin()).string();
}

CsvRows read_csv(const std::string& path) {
  std::ifstream in(path);
  CsvRows rows;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) f.push_back(cell);
    rows.push_back(f);
  }
  return rows;
}

std::string json_number(const json& v) { return v.is_null() ? "n/a" : metric_text(v.get<double>()); }

// The bracketed 95% interval after a value, when the evaluation has them.
std::string ci(const std::optional<BootstrapCI>& c, Interval BootstrapCI::*which) {
  if (!c) return "";
  const Interval& i = *c.*which;
  return " <span class=\"ci\">[" + metric_text(i.lo) + ", " + metric_text(i.hi) + "]</span>";
}

std::string row(const std::string& label, const std::string& value) {
  return "<tr><td class=\"l\">" + label + "</td><td>" + value + "</td></tr>";
}

RunOutputs read_run(const ReportOptions& o) {
  RunOutputs r;
  r.run = o.run;
  r.search = or_default(o.search, o.run, {"search", "inference_val"});
  r.vis = or_default(o.vis, o.run, {"vis", "vis_test"});
  const std::string eval = or_default(o.eval, o.run, {"eval", "inference_test"}),
                    preds = or_default(o.preds, o.run, {"preds", "preds_test"});
  std::error_code ec;
  if (o.eval.empty() && !fs::exists(fs::path(eval) / "metrics.json", ec) &&
      fs::exists(fs::path(o.run) / "diagnoses.csv", ec))
    throw InputError(o.run,
                     "is a diagnose output folder; report describes a labelled run (evaluate's metrics.json): "
                     "look at diagnoses with deepslide serve " +
                         o.run);
  r.eval = read_evaluation((fs::path(eval) / "metrics.json").string());
  r.aggregator = read_optional_json((fs::path(r.search) / "aggregator.json").string());
  r.predict = read_optional_json((fs::path(preds) / "predict.json").string());
  r.visualize = read_optional_json((fs::path(r.vis) / "visualize.json").string());
  if (!o.crossval.empty()) r.crossval = read_crossval(o.crossval);
  r.compare = read_compare_rows(o.compare);
  r.log = o.log;
  if (r.log.empty()) {
    for (const char* cand : {"log.csv", "train/log.csv"})
      if (fs::exists(fs::path(o.run) / cand)) {
        r.log = (fs::path(o.run) / cand).string();
        break;
      }
  }
  const std::string slides = (fs::path(eval) / "slides.csv").string();
  r.slides = read_csv(slides);
  if (r.slides.empty()) throw InputError(slides, "cannot open or empty");
  return r;
}

std::string page_start(const std::string& run) {
  std::string h = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>deepslide report</title><style>";
  h += kStyle;
  h += "</style></head><body>";
  const std::time_t now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  return h + "<h1>deepslide report</h1><p>Run <code>" + html_escape(run) + "</code>, generated " + when +
         " by deepslide " + DEEPSLIDE_VERSION + ".</p>";
}

std::string metrics_section(const Evaluation& e) {
  const Metrics& m = e.metrics;
  std::string h = "<h2>Test metrics</h2><table><tr><th class=\"l\">metric</th><th>value</th></tr>";
  h += row("slides", std::to_string(e.slides));
  h += row("aggregator", html_escape(e.aggregator.empty() ? "?" : e.aggregator));
  h += row("accuracy", metric_text(m.accuracy) + ci(e.ci, &BootstrapCI::accuracy));
  h += row("mean class accuracy", metric_text(m.mean_class_accuracy) + ci(e.ci, &BootstrapCI::mean_class_accuracy));
  h += row("macro F1", metric_text(m.macro_f1) + ci(e.ci, &BootstrapCI::macro_f1));
  h += row("macro ROC AUC (one-vs-rest)", metric_text(m.macro_auc));
  if (e.windows > 0)
    h += row("window accuracy (" + std::to_string(e.windows) + " windows, each against its slide's class)",
             metric_text(e.window_accuracy));
  h += "</table>";
  if (e.ci)
    h += "<p class=\"ci\">Brackets: 95% percentile bootstrap over slides, " + std::to_string(e.ci->resamples) +
         " resamples, seed " + std::to_string(e.ci->seed) + ".</p>";
  return h;
}

// The test metrics of every fold of a cross-validation run and their mean and spread.
std::string crossval_section(const std::optional<CrossValidation>& c) {
  if (!c) return "";
  std::string h = "<h2>Cross-validation (" + std::to_string(c->folds.size()) +
                  " folds)</h2><table><tr><th class=\"l\">test metric</th><th>mean</th><th>sd</th><th>min</th>"
                  "<th>max</th>";
  for (size_t k = 0; k < c->folds.size(); ++k)
    h += "<th>" + html_escape(c->folds[k]) + " (" + std::to_string(c->slides[k]) + " slides)</th>";
  h += "</tr>";
  for (const MetricSpread& s : c->metrics) {
    h += "<tr><td class=\"l\">" + html_escape(s.name) + "</td><td>" + metric_text(s.mean) + "</td><td>" +
         metric_text(s.sd) + "</td><td>" + metric_text(s.min) + "</td><td>" + metric_text(s.max) + "</td>";
    for (double v : s.values) h += "<td>" + metric_text(v) + "</td>";
    h += "</tr>";
  }
  return h +
         "</table><p class=\"ci\">sd: sample standard deviation over the folds (n - 1); a fold whose value is "
         "undefined (n/a) is left out of the mean and spread. The sections below are this report's own "
         "fold.</p>";
}

std::string per_class_section(const Evaluation& e) {
  std::string h =
      "<h2>Per class</h2><table><tr><th class=\"l\">class</th><th>slides</th><th>predicted</th>"
      "<th>precision</th><th>recall (accuracy)</th><th>F1</th><th>AUC</th></tr>";
  for (size_t k = 0; k < e.classes.size(); ++k) {
    const ClassMetrics& c = e.metrics.per_class[k];
    h += "<tr><td class=\"l\">" + html_escape(e.classes[k]) + "</td><td>" + std::to_string(c.support) + "</td><td>" +
         std::to_string(c.predicted) + "</td><td>" + metric_text(c.precision) + "</td><td>" + metric_text(c.recall) +
         "</td><td>" + metric_text(c.f1) + "</td><td>" + metric_text(c.auc) + "</td></tr>";
  }
  return h + "</table>";
}

// Counts shaded by size: green on the diagonal, red off it.
std::string confusion_section(const Evaluation& e) {
  const auto& conf = e.metrics.confusion;
  std::string h = "<h2>Confusion matrix</h2><table><tr><th class=\"l\">ground truth \\ predicted</th>";
  for (const auto& c : e.classes) h += "<th>" + html_escape(c) + "</th>";
  h += "</tr>";
  int64_t max_cell = 1;
  for (const auto& r : conf)
    for (int64_t v : r) max_cell = std::max(max_cell, v);
  for (size_t a = 0; a < e.classes.size(); ++a) {
    h += "<tr><th class=\"l\">" + html_escape(e.classes[a]) + "</th>";
    for (size_t b = 0; b < e.classes.size(); ++b) {
      const int64_t v = conf[a][b];
      const int shade = 255 - (int)(120 * v / max_cell);
      char bg[64];
      std::snprintf(bg, sizeof bg, a == b ? "rgb(%d,255,%d)" : "rgb(255,%d,%d)", shade, shade);
      h += "<td style=\"background:" + std::string(bg) + "\">" + std::to_string(v) + "</td>";
    }
    h += "</tr>";
  }
  return h + "</table>";
}

std::string roc_section(const Evaluation& e) {
  if (!e.roc) return "";
  std::vector<Series> roc;
  for (size_t k = 0; k < e.classes.size(); ++k)
    roc.push_back({e.classes[k] + " (AUC " + metric_text(e.metrics.per_class[k].auc, 3) + ")", (*e.roc)[k]});
  return "<h2>ROC curves (slide scores, one-vs-rest)</h2><div class=\"charts\">" +
         svg_line_chart(roc, "false positive rate", "true positive rate", true, true) + "</div>";
}

std::string aggregation_section(const json& agg, const std::string& search) {
  if (!agg.is_object()) return "<h2>Aggregation</h2><p>No aggregator.json under " + html_escape(search) + ".</p>";
  std::string h = "<h2>Aggregation (chosen on validation slides)</h2><p>Chosen: <b>" +
                  html_escape(string_or(agg, "name", "?")) + "</b> (" + html_escape(string_or(agg, "selection")) + ")" +
                  ". Logistic regression: " + html_escape(string_or(agg, "logistic_rule")) + ".</p>";
  h += "<table><tr><th class=\"l\">candidate</th><th>validation mean class accuracy</th><th "
       "class=\"l\">parameters</th></tr>";
  for (const auto& c : agg.value("candidates", json::array())) {
    std::string params;
    if (c.contains("thresholds")) params = c["thresholds"].dump();
    h += "<tr><td class=\"l\">" + html_escape(string_or(c, "name")) + "</td><td>" +
         json_number(c["mean_class_accuracy"]) + "</td><td class=\"l\">" + html_escape(params) + "</td></tr>";
  }
  return h + "</table>";
}

// slides.csv as a table; the predicted column green when it matches the ground truth, red when not.
std::string slides_table(const CsvRows& slides) {
  std::string h = "<h2>Slides</h2><table><tr>";
  for (const auto& col : slides[0]) h += "<th class=\"l\">" + html_escape(col) + "</th>";
  h += "</tr>";
  for (size_t i = 1; i < slides.size(); ++i) {
    const bool ok = slides[i].size() > 2 && slides[i][1] == slides[i][2];
    h += "<tr>";
    for (size_t c = 0; c < slides[i].size(); ++c)
      h += "<td class=\"l" + std::string(c == 2 ? (ok ? " ok" : " bad") : "") + "\">" + html_escape(slides[i][c]) +
           "</td>";
    h += "</tr>";
  }
  return h + "</table>";
}

// visualize's pictures of each slide, embedded; counts them into `embedded`.
std::string slide_pictures(const RunOutputs& r, int& embedded) {
  const json& vis = r.visualize;
  if (!vis.is_object() || !vis.contains("slides"))
    return "<p>No pictures: run <code>deepslide visualize --out " + html_escape(r.vis) + "</code>.</p>";
  std::string h;
  for (size_t i = 1; i < r.slides.size(); ++i) {
    const std::vector<std::string>& s = r.slides[i];
    // visualize.json's entry for this img and gt (its keys are output names, not stems).
    const json* found = nullptr;
    for (const auto& [name, e] : vis["slides"].items())
      if (e.is_object() && e.contains("img") && e["img"] == s[0] && e.contains("gt") && e["gt"] == s[1]) found = &e;
    if (!found) continue;
    h += "<div class=\"slide\"><b>" + html_escape(s[0]) + "</b>: ground truth " + html_escape(s[1]) + ", predicted " +
         html_escape(s[2]) + "<div class=\"imgs\">";
    const json& entry = *found;
    for (const auto& f : entry.contains("files") ? entry["files"] : json::array()) {
      const std::string name = f.get<std::string>();
      h += embedded_image((fs::path(r.vis) / name).string(), name,
                          name.find("_gradcam_") != std::string::npos ? 260 : 420);
      ++embedded;
    }
    h += "</div></div>";
  }
  if (vis.contains("colors")) {
    const std::vector<std::string>& classes = r.eval.classes;
    h += "<p>Dot colours (DeepSlide's): ";
    for (size_t k = 0; k < classes.size() && k < vis["colors"].size(); ++k)
      h += html_escape(classes[k]) + " = " + html_escape(vis["colors"][k].get<std::string>()) + "; ";
    h += "heatmaps: blue 0 to red 1 (jet).</p>";
  }
  return h;
}

// Loss and accuracy curves from log.csv: its first column is the epoch, every column whose name
// has "loss" or "acc" in it a series.
std::string training_section(const std::string& log) {
  std::string h = "<h2>Training</h2>";
  if (log.empty() || !fs::exists(log)) return h + "<p>No training log (log.csv) under the run folder.</p>";
  const CsvRows rows = read_csv(log);
  if (rows.size() <= 1) return h;
  std::vector<Series> loss, acc;
  for (size_t c = 1; c < rows[0].size(); ++c) {
    const std::string& name = rows[0][c];
    const bool is_loss = name.find("loss") != std::string::npos, is_acc = name.find("acc") != std::string::npos;
    if (!is_loss && !is_acc) continue;
    Series s;
    s.name = name;
    for (size_t r = 1; r < rows.size(); ++r)
      if (rows[r].size() == rows[0].size()) {
        try {
          s.points.emplace_back(std::stod(rows[r][0]), std::stod(rows[r][c]));
        } catch (...) {
        }
      }
    (is_loss ? loss : acc).push_back(s);
  }
  h += "<p>From <code>" + html_escape(log) + "</code>.</p><div class=\"charts\">";
  if (!loss.empty()) h += svg_line_chart(loss, "epoch", "loss", false, false);
  if (!acc.empty()) h += svg_line_chart(acc, "epoch", "accuracy", false, false);
  return h + "</div>";
}

// The bundle `deepslide run` leaves in the run folder: what a hospital takes away to diagnose new
// slides (nothing when the run has none).
std::string bundle_note(const std::string& run) {
  const fs::path bundle = fs::path(run) / "bundle.safetensors";
  std::error_code ec;
  if (!fs::exists(bundle, ec)) return "";
  return "<p>Model bundle (model, window recipe and aggregator in one file): <code>" + html_escape(bundle.string()) +
         "</code>. Diagnose new slides with <code>deepslide diagnose --bundle " + html_escape(bundle.string()) +
         " --out DIR SLIDES...</code>.</p>";
}

// predict.json without its per-slide list, aggregator.json without its candidates.
std::string settings_section(const json& predict, const json& aggregator) {
  std::string h = "<h2>Settings</h2>";
  if (predict.is_object()) {
    json p = predict;
    p.erase("slides");
    h += "<p>predict:</p><pre>" + html_escape(p.dump(2)) + "</pre>";
  }
  if (aggregator.is_object()) {
    json a = aggregator;
    a.erase("candidates");
    h += "<p>aggregator:</p><pre>" + html_escape(a.dump(2)) + "</pre>";
  }
  return h;
}

}  // namespace

ReportSummary write_report(const ReportOptions& o) {
  const RunOutputs r = read_run(o);
  ReportSummary sum;
  std::string h = page_start(r.run);
  h += bundle_note(r.run);
  h += crossval_section(r.crossval);
  h += metrics_section(r.eval);
  h += compare_section(o.compare_title, r.compare);
  h += per_class_section(r.eval);
  h += confusion_section(r.eval);
  h += roc_section(r.eval);
  h += aggregation_section(r.aggregator, r.search);
  h += slides_table(r.slides);
  h += slide_pictures(r, sum.images);
  h += training_section(r.log);
  h += settings_section(r.predict, r.aggregator);
  h += "</body></html>\n";
  write_file_atomic(o.out, h.data(), h.size());
  sum.bytes = h.size();
  sum.compare = compare_text(r.compare);
  return sum;
}

}  // namespace ds
