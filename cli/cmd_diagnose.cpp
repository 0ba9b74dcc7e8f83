// deepslide diagnose: flags, the slides found (infer/diagnose_inputs.h), one call to
// infer/diagnose.h's diagnose_slides, and per slide a progress line on stderr (with rate and
// ETA; base/progress.h within each slide) and, with --json, one JSON line on stdout. A failing slide is named with its
// reason and the rest go on (exit code 2 at the end).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>

#include "base/error.h"
#include "base/format.h"
#include "base/interrupt.h"
#include "base/progress.h"
#include "base/threads.h"
#include "cli/commands.h"
#include "cli/window_flags.h"
#include "dist/comm.h"
#include "infer/diagnose.h"
#include "weights/model_forward.h"
#include "weights/precision_agreement.h"

namespace ds::cli {

namespace {

struct DiagnoseFlags {
  std::string bundle, out, labels;
  std::vector<std::string> slides;
  bool json = false, force = false, quiet = false;
  int batch_size = 64, thumb_size = 1024;
  std::string readers = "auto";
  double commit_seconds = 30, annotation_cover = 0.5;
  std::string annotations;
  std::string precision = "fp32";
};

// A failure's reason without the file's name in front (the reader's errors start with it, and
// the line already names the slide).
std::string reason(const std::string& slide, const std::string& why) {
  const std::string own = slide + ": ";
  return why.rfind(own, 0) == 0 ? why.substr(own.size()) : why;
}

std::string secs(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s < 10 ? "%.2f s" : "%.1f s", s);
  return buf;
}

// Where a diagnosed slide's time went, and what was resumed or left out.
std::string details(const DiagnoseEvent& e) {
  const SlidePredictStats& st = e.stats;
  if (e.reused_windows) return "; windows.csv reused (already predicted)";
  std::string s;
  if (st.resumed > 0) s += "; " + std::to_string(st.resumed) + " windows resumed from windows.partial";
  if (e.annotated) s += "; inside its annotations (" + std::to_string(e.outside_roi) + " outside left out)";
  s += "; tissue scan " + secs(st.scan_seconds) + ", network " + secs(st.net_seconds) + ", reading " +
       secs(st.read_seconds);
  if (st.commits > 0) s += ", " + std::to_string(st.commits) + " commits " + secs(st.commit_seconds);
  return s;
}

// Where the bundle's windows are read: "level L" or "M µm per pixel".
std::string recipe_resolution(const Bundle& b) {
  const WindowOptions& w = b.recipe.windows;
  char buf[64];
  if (w.mpp > 0) std::snprintf(buf, sizeof buf, "%g um per pixel", w.mpp);
  else std::snprintf(buf, sizeof buf, "level %d", w.level);
  return buf;
}

// `left`: slides not reported yet (under mpirun they finish out of order).
std::string slide_line(const DiagnoseEvent& e, const Bundle& b, const ItemEta& eta, size_t left) {
  const std::string prefix = "[" + std::to_string(e.index + 1) + "/" + std::to_string(e.count) + "] " + e.d.slide;
  const std::string rate = eta.text(left, "slides");
  const std::string tail = rate.empty() ? "" : "; " + rate;
  const std::vector<std::string>& classes = b.model.classes;
  if (e.status == DiagnoseEvent::Status::failed) return prefix + ": FAILED: " + reason(e.d.slide, e.why) + tail;
  char conf[32];
  std::snprintf(conf, sizeof conf, "%.3f", e.d.confidence());
  const std::string head =
      prefix + ": " +
      (e.d.diagnosed() ? classes[(size_t)e.d.diagnosis] + " (" + conf + ")"
                       : std::string("NO DIAGNOSIS: ") +
                             (e.d.windows == 0 ? "no tissue window" : "no window above its class's threshold") +
                             " (look at the slide; the bundle reads " + recipe_resolution(b) + ")");
  if (e.status == DiagnoseEvent::Status::skipped)
    return head + ", skipped: outputs current for this bundle and slide (--force redoes it)" + tail;
  std::string s;
  if (!e.partial_note.empty()) s += prefix + ": " + e.partial_note + "\n";
  return s + head + ", " + std::to_string(e.d.windows) + " windows, " + secs(e.d.seconds) +
         (e.why == "new" ? "" : " (redone: " + e.why + ")") + details(e) + tail;
}

void print_json(const DiagnoseEvent& e, const Bundle& b, const std::string& out) {
  nlohmann::ordered_json j;
  if (e.status == DiagnoseEvent::Status::failed) j = {{"slide", e.d.slide}, {"error", e.why}};
  else j = diagnosis_json(e.d, b.model.classes, out + "/" + e.d.name);
  std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << std::endl;
}

// The run's first line: slides, bundle, aggregator, precision, classes (and ranks under mpirun).
std::string header(const DiagnoseOptions& o, const DiagnoseFlags& f, const Bundle& b, Precision precision) {
  std::string s = "diagnose: " + count_text((long long)o.slides.size(), "slide") + " with " + f.bundle + " (" +
                  b.recipe.aggregator.method + " aggregator, " + precision_name(precision) + ", classes";
  for (const std::string& c : b.model.classes) s += " " + c;
  if (dist::size() > 1) s += "; " + std::to_string(dist::size()) + " ranks sharing the slides";
  return s + ")\n";
}

void run_diagnose(const DiagnoseFlags& f, const Globals& g) {
  set_num_threads(g.threads);
  DS_CHECK_INPUT(f.batch_size >= 1, "--batch-size must be at least 1");
  DS_CHECK_INPUT(f.thumb_size >= 64 && f.thumb_size <= 8192, "--thumb-size must be in [64, 8192]");
  Bundle b = load_bundle(f.bundle);
  const PrecisionPick pick = choose_precision(f.precision, b.model, f.bundle);
  const Precision precision = pick.precision;
  if (!pick.why.empty()) std::cerr << "diagnose: precision " << pick.why << "\n";
  DiagnoseOptions o;
  o.slides = diagnose_inputs(f.slides, f.labels, f.out);
  // A label the bundle has no class for (a typo, another naming) is kept in the gt column, but said.
  std::map<std::string, int> unknown;
  for (const DiagnoseInput& s : o.slides)
    if (!s.gt.empty() && std::find(b.model.classes.begin(), b.model.classes.end(), s.gt) == b.model.classes.end())
      ++unknown[s.gt];
  for (const auto& [cls, n] : unknown) {
    std::string known;
    for (const std::string& c : b.model.classes) known += (known.empty() ? "" : ", ") + c;
    std::cerr << "diagnose: note: " << f.labels << " gives " << n << " slide(s) the class '" << one_line(cls, 100)
              << "', which is not one of the bundle's (" << known << ")\n";
  }
  o.out = f.out;
  o.batch_size = f.batch_size;
  o.reader_threads = parse_readers(f.readers);
  o.select_threads = g.threads;
  o.thumb_size = f.thumb_size;
  o.force = f.force;
  DS_CHECK_INPUT(f.commit_seconds >= 0, "--commit-seconds must not be negative");
  DS_CHECK_INPUT(f.annotation_cover > 0 && f.annotation_cover <= 1, "--annotation-cover must be in (0, 1]");
  o.commit_seconds = f.commit_seconds;
  o.annotations = f.annotations;
  o.annotation_cover = f.annotation_cover;
  Progress progress("diagnose", (int64_t)o.slides.size(), "windows", ProgressStyle::for_stderr(f.quiet));
  o.progress = &progress;
  install_stop_handlers();
  // Under mpirun the ranks share the slides out and rank 0 alone prints (dist/work_queue.h).
  const bool leader = dist::rank() == 0;
  if (leader) std::cerr << header(o, f, b, precision);
  ItemEta eta;
  size_t reported = 0;
  // Outcome lines go through the progress reporter (they clear its redrawn line), and are kept
  // when quiet: they are the record of what happened to each slide.
  const DiagnoseSummary s = diagnose_slides(b, o, [&](const DiagnoseEvent& e) {
    if (e.status == DiagnoseEvent::Status::diagnosed) eta.worked();
    const std::string line = slide_line(e, b, eta, e.count - ++reported);
    if (f.quiet) std::cerr << line << "\n";
    else progress.print(line);
    if (f.json) print_json(e, b, f.out);
  });
  if (!leader) return;  // rank 0 reports the whole job
  std::cerr << "diagnose: " << s.diagnosed << " diagnosed, " << s.skipped << " already current, " << s.failed.size()
            << " failed; " << s.csv << "\n";
  if (!s.undiagnosed.empty()) {
    std::cerr << "diagnose: " << count_text((long long)s.undiagnosed.size(), "slide")
              << (s.undiagnosed.size() == 1 ? " has" : " have")
              << " no diagnosis (no window counted; their rows in diagnoses.csv have an empty diagnosis):\n";
    for (const std::string& slide : s.undiagnosed) std::cerr << "  " << slide << "\n";
  }
  for (const auto& [slide, why] : s.failed) std::cerr << "  failed: " << slide << ": " << reason(slide, why) << "\n";
  if (!s.failed.empty())
    throw InputError(f.out, std::to_string(s.failed.size()) + " of " + std::to_string(s.slides) +
                                " slides failed (listed above; their rows in diagnoses.csv give the reason)");
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
  sub->add_option(
         "--precision", f->precision,
         "fp32|bf16|int8|auto: the convolutions' arithmetic (bf16 needs a CPU with AVX512-BF16, int8 "
         "AVX512-VNNI or AVX-VNNI and a model calibrated by `deepslide calibrate`; auto: the fastest this CPU has "
         "whose agreement with fp32 the model records, else fp32); part of each slide's key")
      ->capture_default_str();
  sub->add_option("--readers", f->readers,
                  "Threads reading and decoding windows ahead of the network; 0: the network's threads read each batch "
                  "before its forward pass (no overlap); auto: 0 when --threads takes every core, else 1")
      ->capture_default_str();
  sub->add_option("--thumb-size", f->thumb_size, "Longer side of the heatmaps' thumbnail")->capture_default_str();
  sub->add_flag("--quiet", f->quiet, "No progress line (each slide's outcome and the summary are still printed)");
  sub->add_option("--commit-seconds", f->commit_seconds,
                  "Seconds between commits of a slide's predictions to its windows.partial (what a rerun "
                  "continues from)")
      ->capture_default_str();
  sub->add_option("--annotations", f->annotations,
                  "Folder of annotation files (<slide-stem>.geojson/.json/.xml: QuPath GeoJSON, ASAP or Aperio XML): "
                  "diagnose only from the windows "
                  "inside a slide's annotated regions (slides without a file: the whole slide)");
  sub->add_option("--annotation-cover", f->annotation_cover,
                  "With --annotations: share of a window the annotations must cover")
      ->capture_default_str();
  sub->add_option("--threads", g.threads, "Threads (default: all cores)");
  sub->callback([f, &g] { run_diagnose(*f, g); });
}

}  // namespace ds::cli
