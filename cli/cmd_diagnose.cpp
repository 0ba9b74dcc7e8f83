// deepslide diagnose: flags, the slides found (infer/diagnose_inputs.h), one call to
// infer/diagnose.h's diagnose_slides, and per slide a progress line on stderr (with rate and
// ETA) and, with --json, one JSON line on stdout. A failing slide is named with its reason and
// the rest go on (exit code 2 at the end).
#include <cstdio>
#include <iostream>
#include <memory>

#include "base/error.h"
#include "base/progress.h"
#include "base/threads.h"
#include "cli/commands.h"
#include "infer/diagnose.h"

namespace ds::cli {

namespace {

struct DiagnoseFlags {
  std::string bundle, out, labels;
  std::vector<std::string> slides;
  bool json = false, force = false;
  int batch_size = 64, readers = 1, thumb_size = 1024;
};

// A failure's reason without the file's name in front (the reader's errors start with it, and
// the line already names the slide).
std::string reason(const std::string& slide, const std::string& why) {
  const std::string own = slide + ": ";
  return why.rfind(own, 0) == 0 ? why.substr(own.size()) : why;
}

void print_slide(const DiagnoseEvent& e, const Bundle& b, const std::string& out, bool json, const ItemEta& eta) {
  const std::string prefix = "[" + std::to_string(e.index + 1) + "/" + std::to_string(e.count) + "] " + e.d.slide;
  const std::string rate = eta.text(e.count - e.index - 1, "slides");
  const std::string tail = rate.empty() ? "" : "; " + rate;
  const std::vector<std::string>& classes = b.model.classes;
  if (e.status == DiagnoseEvent::Status::failed) {
    std::cerr << prefix << ": FAILED: " << reason(e.d.slide, e.why) << tail << "\n";
    if (json) {
      nlohmann::ordered_json j = {{"slide", e.d.slide}, {"error", e.why}};
      std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << std::endl;
    }
    return;
  }
  char conf[32];
  std::snprintf(conf, sizeof conf, "%.3f", e.d.confidence());
  if (e.status == DiagnoseEvent::Status::skipped)
    std::cerr << prefix << ": " << classes[(size_t)e.d.diagnosis] << " (" << conf
              << "), skipped: outputs current for this bundle and slide (--force redoes it)" << tail << "\n";
  else
    std::cerr << prefix << ": " << classes[(size_t)e.d.diagnosis] << " (" << conf << "), " << e.d.windows
              << " windows, " << (int)(e.d.seconds * 10) / 10.0 << " s"
              << (e.why == "new" ? "" : " (redone: " + e.why + ")") << tail << "\n";
  if (json)
    std::cout << diagnosis_json(e.d, classes, out + "/" + e.d.name)
                     .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
              << std::endl;
}

void run_diagnose(const DiagnoseFlags& f, const Globals& g) {
  set_num_threads(g.threads);
  DS_CHECK_INPUT(f.batch_size >= 1, "--batch-size must be at least 1");
  DS_CHECK_INPUT(f.readers >= 1, "--readers must be at least 1");
  DS_CHECK_INPUT(f.thumb_size >= 64 && f.thumb_size <= 8192, "--thumb-size must be in [64, 8192]");
  Bundle b = load_bundle(f.bundle);
  DiagnoseOptions o;
  o.slides = diagnose_inputs(f.slides, f.labels, f.out);
  o.out = f.out;
  o.batch_size = f.batch_size;
  o.reader_threads = f.readers;
  o.select_threads = g.threads;
  o.thumb_size = f.thumb_size;
  o.force = f.force;
  std::cerr << "diagnose: " << o.slides.size() << " slides with " << f.bundle << " (" << b.recipe.aggregator.method
            << " aggregator, classes";
  for (const std::string& c : b.model.classes) std::cerr << " " << c;
  std::cerr << ")\n";
  ItemEta eta;
  const DiagnoseSummary s = diagnose_slides(b, o, [&](const DiagnoseEvent& e) {
    if (e.status == DiagnoseEvent::Status::diagnosed) eta.worked();
    print_slide(e, b, f.out, f.json, eta);
  });
  std::cerr << "diagnose: " << s.diagnosed << " diagnosed, " << s.skipped << " already current, " << s.failed.size()
            << " failed; " << s.csv << "\n";
  for (const auto& [slide, why] : s.failed) std::cerr << "  failed: " << slide << ": " << reason(slide, why) << "\n";
  if (!s.failed.empty())
    throw InputError(
        f.out, std::to_string(s.failed.size()) + " of " + std::to_string(s.slides) + " slides failed (listed above)");
}

}  // namespace

void register_diagnose(CLI::App& app, Globals& g) {
  auto f = std::make_shared<DiagnoseFlags>();
  auto* sub = app.add_subcommand("diagnose",
                                 "Diagnose new slides with a model bundle: one row per slide in "
                                 "DIR/diagnoses.csv, windows and heatmaps per slide");
  sub->add_option("--bundle", f->bundle, "Model bundle (from deepslide bundle or deepslide run)")->required();
  sub->add_option("--out", f->out, "Output folder (diagnoses.csv, one folder per slide)")->required();
  sub->add_option("slides", f->slides, "Slide files and folders (searched recursively)");
  sub->add_option("--labels", f->labels, "CSV img[,gt] of the slides (img under the one folder given)");
  sub->add_flag("--json", f->json, "One JSON object per slide on stdout");
  sub->add_flag("--force", f->force, "Redo slides whose outputs are current");
  sub->add_option("--batch-size", f->batch_size, "Patches per forward pass")->capture_default_str();
  sub->add_option("--readers", f->readers, "Threads reading windows ahead of the network")->capture_default_str();
  sub->add_option("--thumb-size", f->thumb_size, "Longer side of the heatmaps' thumbnail")->capture_default_str();
  sub->add_option("--threads", g.threads, "Threads (default: all cores)");
  sub->callback([f, &g] { run_diagnose(*f, g); });
}

}  // namespace ds::cli
