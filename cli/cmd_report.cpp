// deepslide report: flags, one call to infer/report.h's write_report, and one line saying what
// was written.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "infer/report.h"

namespace ds::cli {

void register_report(CLI::App& app, Globals& g) {
  auto o = std::make_shared<ReportOptions>();
  auto* sub = app.add_subcommand("report", "One self-contained offline HTML report for a run folder");
  sub->add_option("--run", o->run, "Run folder (eval/, search/, preds/, vis/, log.csv; or a `deepslide run` workdir)")
      ->required();
  sub->add_option("--out", o->out, "Output HTML file")->required();
  sub->add_option("--eval", o->eval, "evaluate's output folder (default RUN/eval, else RUN/inference_test)");
  sub->add_option("--search", o->search, "search's output folder (default RUN/search, else RUN/inference_val)");
  sub->add_option("--preds", o->preds, "predict's output folder (default RUN/preds, else RUN/preds_test)");
  sub->add_option("--vis", o->vis, "visualize's output folder (default RUN/vis, else RUN/vis_test)");
  sub->add_option("--log", o->log, "Training log.csv (default RUN/log.csv or RUN/train/log.csv)");
  sub->add_option("--crossval", o->crossval,
                  "Cross-validation summary (crossval.json of deepslide run with folds) to show as a table");
  sub->add_option("--compare", o->compare,
                  "Another evaluation to show in a table of accuracies, LABEL=FOLDER (evaluate's output; "
                  "repeatable)");
  sub->add_option("--compare-title", o->compare_title, "Heading of the --compare table")->capture_default_str();
  sub->callback([o] {
    const ReportSummary s = write_report(*o);
    std::cout << "report: wrote " << o->out << " (" << s.bytes / 1024 << " KiB, " << s.images << " images embedded)\n"
              << s.compare;
  });
}

}  // namespace ds::cli
