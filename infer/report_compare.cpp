// The report's comparison table (report_compare.h): reads each evaluation's metrics.json and lays
// the accuracies side by side, as HTML for the report and as text for the terminal.
#include "infer/report_compare.h"

#include <filesystem>

#include "base/error.h"
#include "infer/report_html.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

std::string windows(const Evaluation& e) { return e.windows > 0 ? std::to_string(e.windows) : "n/a"; }

}  // namespace

std::vector<CompareRow> read_compare_rows(const std::vector<std::string>& specs) {
  std::vector<CompareRow> rows;
  for (const std::string& spec : specs) {
    const size_t eq = spec.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      throw InputError("--compare", "expected LABEL=FOLDER (evaluate's output folder), got '" + spec + "'");
    CompareRow r{spec.substr(0, eq), (fs::path(spec.substr(eq + 1)) / "metrics.json").string(), {}};
    r.eval = read_evaluation(r.metrics);
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string compare_section(const std::string& title, const std::vector<CompareRow>& rows) {
  if (rows.empty()) return "";
  std::string h = "<h2>" + html_escape(title) +
                  "</h2><table><tr><th class=\"l\">model and test slides</th><th>slides</th><th>slide "
                  "accuracy</th><th>windows</th><th>window accuracy</th><th class=\"l\">from</th></tr>";
  for (const CompareRow& r : rows)
    h += "<tr><td class=\"l\">" + html_escape(r.label) + "</td><td>" + std::to_string(r.eval.slides) + "</td><td>" +
         metric_text(r.eval.metrics.accuracy) + "</td><td>" + windows(r.eval) + "</td><td>" +
         metric_text(r.eval.window_accuracy) + "</td><td class=\"l\"><code>" + html_escape(r.metrics) +
         "</code></td></tr>";
  return h +
         "</table><p class=\"ci\">Slide accuracy: each slide's class from the aggregator chosen on its "
         "model's validation slides; window accuracy: every window against its slide's class.</p>";
}

std::string compare_text(const std::vector<CompareRow>& rows) {
  std::string t;
  for (const CompareRow& r : rows)
    t += "  " + r.label + ": slide accuracy " + metric_text(r.eval.metrics.accuracy) + " (" +
         std::to_string(r.eval.slides) + " slides), window accuracy " + metric_text(r.eval.window_accuracy) + " (" +
         windows(r.eval) + " windows)\n";
  return t;
}

}  // namespace ds
