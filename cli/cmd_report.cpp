// deepslide report: one self-contained offline HTML file for a run folder. Reads (defaults under
// --run DIR): eval/metrics.json and eval/slides.csv (required), search/aggregator.json,
// preds/predict.json, vis/visualize.json and its PNGs, and log.csv or train/log.csv. Images are
// embedded as data URIs and charts are inline SVG; nothing outside the file is referenced.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "base/error.h"
#include "infer/report_html.h"
#include "base/atomic_file.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ds::cli {

namespace {

struct ReportOpts {
  std::string run, out, eval, search, preds, vis, log;
};

std::string or_default(const std::string& v, const std::string& run, const std::string& sub) {
  return v.empty() ? (fs::path(run) / sub).string() : v;
}

json read_json(const std::string& path, bool required) {
  std::ifstream in(path);
  if (!in) {
    if (required) throw InputError(path, "cannot open");
    return json();
  }
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) throw InputError(path, "not valid JSON");
  return j;
}

std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
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

std::string num(const json& v, int digits = 4) {
  if (v.is_null()) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v.get<double>());
  return b;
}

std::string ci(const json& c) {
  if (!c.is_array() || c.size() != 2) return "";
  return " <span class=\"ci\">[" + num(c[0]) + ", " + num(c[1]) + "]</span>";
}

const char* kStyle = R"(body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f2f2f2}td.l,th.l{text-align:left}.ci{color:#666;font-size:90%}.ok{color:#1a7f37}.bad{color:#c62828}
.slide{border:1px solid #ddd;padding:8px;margin:12px 0}.imgs img{margin:4px;vertical-align:top;border:1px solid #eee}
.charts svg{margin-right:16px}pre{background:#f7f7f7;padding:8px;overflow:auto})";

void run_report(const ReportOpts& o) {
  const std::string eval = or_default(o.eval, o.run, "eval"), search = or_default(o.search, o.run, "search"),
                    preds = or_default(o.preds, o.run, "preds"), vis = or_default(o.vis, o.run, "vis");
  json metrics = read_json((fs::path(eval) / "metrics.json").string(), true);
  for (const char* key : {"accuracy", "mean_class_accuracy", "macro_f1", "macro_auc", "confusion", "per_class", "classes"})
    if (!metrics.contains(key))
      throw InputError((fs::path(eval) / "metrics.json").string(), std::string("missing key ") + key);
  const auto classes = metrics["classes"].get<std::vector<std::string>>();
  json agg = read_json((fs::path(search) / "aggregator.json").string(), false);
  json pred_meta = read_json((fs::path(preds) / "predict.json").string(), false);
  json vis_meta = read_json((fs::path(vis) / "visualize.json").string(), false);
  std::string log = o.log;
  if (log.empty()) {
    for (const char* cand : {"log.csv", "train/log.csv"})
      if (fs::exists(fs::path(o.run) / cand)) {
        log = (fs::path(o.run) / cand).string();
        break;
      }
  }

  std::string h = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>deepslide report</title><style>";
  h += kStyle;
  h += "</style></head><body>";
  const std::time_t now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  h += "<h1>deepslide report</h1><p>Run <code>" + html_escape(o.run) + "</code>, generated " + when + " by deepslide " +
       DEEPSLIDE_VERSION + ".</p>";

  // Summary.
  h += "<h2>Test metrics</h2><table><tr><th class=\"l\">metric</th><th>value</th></tr>";
  const json c95 = metrics.value("ci95", json::object());
  h += "<tr><td class=\"l\">slides</td><td>" + std::to_string(metrics.value("slides", 0)) + "</td></tr>";
  h += "<tr><td class=\"l\">aggregator</td><td>" + html_escape(metrics.value("aggregator", std::string("?"))) + "</td></tr>";
  h += "<tr><td class=\"l\">accuracy</td><td>" + num(metrics["accuracy"]) + ci(c95.value("accuracy", json())) + "</td></tr>";
  h += "<tr><td class=\"l\">mean class accuracy</td><td>" + num(metrics["mean_class_accuracy"]) +
       ci(c95.value("mean_class_accuracy", json())) + "</td></tr>";
  h += "<tr><td class=\"l\">macro F1</td><td>" + num(metrics["macro_f1"]) + ci(c95.value("macro_f1", json())) + "</td></tr>";
  h += "<tr><td class=\"l\">macro ROC AUC (one-vs-rest)</td><td>" + num(metrics["macro_auc"]) + "</td></tr></table>";
  if (c95.contains("resamples"))
    h += "<p class=\"ci\">Brackets: 95% percentile bootstrap over slides, " + std::to_string(c95["resamples"].get<int>()) +
         " resamples, seed " + std::to_string(c95["seed"].get<uint64_t>()) + ".</p>";

  h += "<h2>Per class</h2><table><tr><th class=\"l\">class</th><th>slides</th><th>predicted</th><th>precision</th>"
       "<th>recall (accuracy)</th><th>F1</th><th>AUC</th></tr>";
  for (const auto& c : classes) {
    const json& pc = metrics["per_class"][c];
    h += "<tr><td class=\"l\">" + html_escape(c) + "</td><td>" + std::to_string(pc.value("support", 0)) + "</td><td>" +
         std::to_string(pc.value("predicted", 0)) + "</td><td>" + num(pc["precision"]) + "</td><td>" +
         num(pc["recall"]) + "</td><td>" + num(pc["f1"]) + "</td><td>" + num(pc["auc"]) + "</td></tr>";
  }
  h += "</table>";

  h += "<h2>Confusion matrix</h2><table><tr><th class=\"l\">ground truth \\ predicted</th>";
  for (const auto& c : classes) h += "<th>" + html_escape(c) + "</th>";
  h += "</tr>";
  int64_t max_cell = 1;
  for (const auto& row : metrics["confusion"])
    for (const auto& v : row) max_cell = std::max<int64_t>(max_cell, v.get<int64_t>());
  for (size_t a = 0; a < classes.size(); ++a) {
    h += "<tr><th class=\"l\">" + html_escape(classes[a]) + "</th>";
    for (size_t b = 0; b < classes.size(); ++b) {
      const int64_t v = metrics["confusion"][a][b].get<int64_t>();
      const int shade = 255 - (int)(120 * v / max_cell);
      char bg[64];
      std::snprintf(bg, sizeof bg, a == b ? "rgb(%d,255,%d)" : "rgb(255,%d,%d)", shade, shade);
      h += "<td style=\"background:" + std::string(bg) + "\">" + std::to_string(v) + "</td>";
    }
    h += "</tr>";
  }
  h += "</table>";

  if (metrics.contains("roc")) {
    std::vector<Series> roc;
    for (const auto& c : classes) {
      Series s;
      s.name = c + " (AUC " + num(metrics["per_class"][c]["auc"], 3) + ")";
      for (const auto& p : metrics["roc"][c]) s.points.emplace_back(p[0].get<double>(), p[1].get<double>());
      roc.push_back(s);
    }
    h += "<h2>ROC curves (slide scores, one-vs-rest)</h2><div class=\"charts\">" +
         svg_line_chart(roc, "false positive rate", "true positive rate", true, true) + "</div>";
  }

  if (agg.is_object()) {
    h += "<h2>Aggregation (chosen on validation slides)</h2><p>Chosen: <b>" +
         html_escape(agg.value("name", std::string("?"))) + "</b> (" + html_escape(agg.value("selection", std::string())) + ")" +
         ". Logistic regression: " + html_escape(agg.value("logistic_rule", std::string())) + ".</p>";
    h += "<table><tr><th class=\"l\">candidate</th><th>validation mean class accuracy</th><th class=\"l\">parameters</th></tr>";
    for (const auto& c : agg.value("candidates", json::array())) {
      std::string params;
      if (c.contains("thresholds")) params = c["thresholds"].dump();
      h += "<tr><td class=\"l\">" + html_escape(c.value("name", std::string())) + "</td><td>" +
           num(c["mean_class_accuracy"]) + "</td><td class=\"l\">" + html_escape(params) + "</td></tr>";
    }
    h += "</table>";
  } else {
    h += "<h2>Aggregation</h2><p>No aggregator.json under " + html_escape(search) + ".</p>";
  }

  // Per-slide predictions with pictures.
  auto slides = read_csv((fs::path(eval) / "slides.csv").string());
  if (slides.empty()) throw InputError((fs::path(eval) / "slides.csv").string(), "cannot open or empty");
  h += "<h2>Slides</h2><table><tr>";
  for (const auto& col : slides[0]) h += "<th class=\"l\">" + html_escape(col) + "</th>";
  h += "</tr>";
  for (size_t i = 1; i < slides.size(); ++i) {
    const bool ok = slides[i].size() > 2 && slides[i][1] == slides[i][2];
    h += "<tr>";
    for (size_t c = 0; c < slides[i].size(); ++c)
      h += "<td class=\"l" + std::string(c == 2 ? (ok ? " ok" : " bad") : "") + "\">" + html_escape(slides[i][c]) + "</td>";
    h += "</tr>";
  }
  h += "</table>";
  int embedded = 0;
  if (vis_meta.is_object() && vis_meta.contains("slides")) {
    for (size_t i = 1; i < slides.size(); ++i) {
      const std::string stem = fs::path(slides[i][0]).stem().string();
      if (!vis_meta["slides"].contains(stem)) continue;
      h += "<div class=\"slide\"><b>" + html_escape(slides[i][0]) + "</b>: ground truth " + html_escape(slides[i][1]) +
           ", predicted " + html_escape(slides[i][2]) + "<div class=\"imgs\">";
      for (const auto& f : vis_meta["slides"][stem]["files"]) {
        const std::string name = f.get<std::string>();
        h += embedded_image((fs::path(vis) / name).string(), name, name.find("_gradcam_") != std::string::npos ? 260 : 420);
        ++embedded;
      }
      h += "</div></div>";
    }
    if (vis_meta.contains("colors")) {
      h += "<p>Dot colours (DeepSlide's): ";
      for (size_t k = 0; k < classes.size() && k < vis_meta["colors"].size(); ++k)
        h += html_escape(classes[k]) + " = " + html_escape(vis_meta["colors"][k].get<std::string>()) + "; ";
      h += "heatmaps: blue 0 to red 1 (jet).</p>";
    }
  } else {
    h += "<p>No pictures: run <code>deepslide visualize --out " + html_escape(vis) + "</code>.</p>";
  }

  // Training curves.
  h += "<h2>Training</h2>";
  if (!log.empty() && fs::exists(log)) {
    auto rows = read_csv(log);
    if (rows.size() > 1) {
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
      h += "</div>";
    }
  } else {
    h += "<p>No training log (log.csv) under the run folder.</p>";
  }

  // Settings.
  h += "<h2>Settings</h2>";
  if (pred_meta.is_object()) {
    json p = pred_meta;
    p.erase("slides");
    h += "<p>predict:</p><pre>" + html_escape(p.dump(2)) + "</pre>";
  }
  if (agg.is_object()) {
    json a = agg;
    a.erase("candidates");
    h += "<p>aggregator:</p><pre>" + html_escape(a.dump(2)) + "</pre>";
  }
  h += "</body></html>\n";
  write_file_atomic(o.out, h.data(), h.size());
  std::cout << "report: wrote " << o.out << " (" << h.size() / 1024 << " KiB, " << embedded << " images embedded)\n";
}

}  // namespace

void register_report(CLI::App& app, Globals& g) {
  auto o = std::make_shared<ReportOpts>();
  auto* sub = app.add_subcommand("report", "One self-contained offline HTML report for a run folder");
  sub->add_option("--run", o->run, "Run folder (eval/, search/, preds/, vis/, log.csv)")->required();
  sub->add_option("--out", o->out, "Output HTML file")->required();
  sub->add_option("--eval", o->eval, "evaluate's output folder (default RUN/eval)");
  sub->add_option("--search", o->search, "search's output folder (default RUN/search)");
  sub->add_option("--preds", o->preds, "predict's output folder (default RUN/preds)");
  sub->add_option("--vis", o->vis, "visualize's output folder (default RUN/vis)");
  sub->add_option("--log", o->log, "Training log.csv (default RUN/log.csv or RUN/train/log.csv)");
  sub->callback([o] { run_report(*o); });
}

}  // namespace ds::cli
