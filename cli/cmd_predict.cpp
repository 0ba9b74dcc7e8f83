// deepslide predict (stage 4): flags, one call to infer/predict.h's predict_slides (one CSV per
// slide plus OUT/predict.json), progress on stderr (base/progress.h), each slide's outcome and a
// summary printed. A failing slide is listed with its reason and the rest go on (exit code 2 at
// the end); SIGINT/SIGTERM commit the current slide's chunk and exit 130/143 (cli/main.cpp).
#include <algorithm>
#include <iostream>
#include <memory>
#include <sstream>

#include "base/error.h"
#include "base/format.h"
#include "base/interrupt.h"
#include "base/progress.h"
#include "base/threads.h"
#include "cli/commands.h"
#include "cli/window_flags.h"
#include "dist/comm.h"
#include "infer/bundle.h"
#include "infer/predict.h"
#include "weights/model_forward.h"
#include "weights/precision_agreement.h"

namespace ds::cli {

namespace {

struct PredictOpts {
  std::string model, all_wsi, labels, out;
  int batch_size = 64;
  std::string readers = "auto";
  bool force = false;
  bool quiet = false;
  double commit_seconds = 30;
  std::string annotations;
  double annotation_cover = 0.5;
  std::string precision = "fp32";
  WindowFlags win;
  CLI::Option* patch_flag = nullptr;  // --patch-size, only to check it against the model
};

std::string secs(double s) {
  std::ostringstream o;
  o.precision(s < 10 ? 2 : 3);
  o << s << " s";
  return o.str();
}

std::string slide_line(const SlideOutcome& r) {
  const std::string prefix = "[" + std::to_string(r.index + 1) + "/" + std::to_string(r.count) + "] " + r.img;
  const SlidePredictStats& st = r.stats;
  switch (r.status) {
    case SlideOutcome::Status::skipped: return prefix + ": " + r.csv + " is up to date, skipped (--force redoes it)";
    case SlideOutcome::Status::failed: return prefix + ": FAILED: " + r.error;
    case SlideOutcome::Status::predicted: break;
  }
  std::string s;
  if (!r.redo_reason.empty()) s += prefix + ": redone: " + r.redo_reason + "\n";
  if (!r.partial_note.empty()) s += prefix + ": " + r.partial_note + "\n";
  s += prefix + ": " + std::to_string(st.windows) + " of " + std::to_string(st.candidates) + " windows";
  if (st.resumed > 0) s += " (" + std::to_string(st.resumed) + " resumed from a partial file)";
  if (r.annotated) s += " inside its annotations (" + std::to_string(r.outside_roi) + " outside left out)";
  s += ", " + std::to_string((int64_t)((st.windows - st.resumed) / std::max(st.seconds, 1e-9))) + " patches/s (" +
       secs(st.seconds) + ": tissue scan " + secs(st.scan_seconds) + ", network " + secs(st.net_seconds) +
       ", reading " + secs(st.read_seconds) +
       (st.commits > 0 ? ", " + std::to_string(st.commits) + " commits " + secs(st.commit_seconds) : "") + ")";
  return s;
}

void print_summary(const PredictSummary& s, const std::string& out) {
  const double t = s.seconds;
  const int64_t fresh = s.windows - s.resumed;
  std::cout << "predict: " << s.windows << " patches from "
            << count_text((long long)(s.slides - s.failed.size() - s.skipped.size()), "slide") << " in " << secs(t)
            << " (" << (int64_t)(fresh / std::max(t, 1e-9)) << " patches/s overall, "
            << (int64_t)(fresh / std::max(s.net_seconds, 1e-9)) << " patches/s in the network; tissue scan "
            << secs(s.scan_seconds) << ", network " << secs(s.net_seconds) << ", reading " << secs(s.read_seconds)
            << "), CSVs in " << out << "\n";
  if (s.resumed > 0) std::cout << "predict: " << s.resumed << " patches resumed from partial files\n";
  if (!s.skipped.empty())
    std::cout << "predict: " << count_text((long long)s.skipped.size(), "slide") << " up to date, skipped\n";
  if (!s.empty.empty()) {
    std::cout << "predict: " << count_text((long long)s.empty.size(), "slide")
              << " had no tissue windows (header-only CSV):\n";
    for (const auto& img : s.empty) std::cout << "  " << img << "\n";
  }
  if (!s.unlisted.empty()) {
    std::cout << "predict: " << count_text((long long)s.unlisted.size(), "slide") << " of an earlier run "
              << (s.unlisted.size() == 1 ? "is" : "are")
              << " no longer listed in predict.json (made with other settings):\n";
    for (const auto& [img, why] : s.unlisted) std::cout << "  " << img << ": " << why << "\n";
  }
  if (!s.failed.empty()) {
    std::cout << "predict: " << count_text((long long)s.failed.size(), "slide") << " failed:\n";
    for (const auto& [img, why] : s.failed) std::cout << "  " << img << ": " << why << "\n";
  }
}

void run_predict(const PredictOpts& o, const Globals& g) {
  set_num_threads(g.threads);
  std::map<std::string, std::string> meta;
  Model model = load_model(o.model, &meta);
  const PrecisionPick pick = choose_precision(o.precision, model, o.model);
  if (!pick.why.empty()) std::cerr << "predict: precision " << pick.why << "\n";
  PredictSlidesOptions p;
  // A bundle's recipe is the default; flags given on the command line override it.
  p.predict.windows = is_bundle(meta) ? o.win.resolve_over(recipe_from_metadata(o.model, meta, model).windows)
                                      : o.win.resolve_for(model.trained_at, 3.0, "predict");
  if (o.patch_flag && o.patch_flag->count() > 0 && o.win.opt.patch_size != model.patch_size)
    throw InputError("--patch-size", std::to_string(o.win.opt.patch_size) + " differs from the model's patch size " +
                                         std::to_string(model.patch_size));
  p.predict.windows.patch_size = model.patch_size;
  p.predict.batch_size = o.batch_size;
  p.predict.reader_threads = parse_readers(o.readers);
  p.predict.select_threads = g.threads;
  p.model_path = o.model;
  p.all_wsi = o.all_wsi;
  p.labels = o.labels;
  p.out = o.out;
  p.force = o.force;
  p.commit_seconds = o.commit_seconds;
  DS_CHECK_INPUT(o.annotation_cover > 0 && o.annotation_cover <= 1, "--annotation-cover must be in (0, 1]");
  p.annotations = o.annotations;
  p.annotation_cover = o.annotation_cover;
  Progress progress("predict", 0, "windows", ProgressStyle::for_stderr(o.quiet));
  p.progress = &progress;
  install_stop_handlers();
  // Outcome lines go through the progress reporter (they clear its redrawn line), and are kept
  // when quiet: they are the record of what happened to each slide.
  const PredictSummary s = predict_slides(model, p, [&](const SlideOutcome& r) {
    const std::string line = slide_line(r);
    if (o.quiet) std::cerr << line << "\n";
    else progress.print(line);
  });
  if (dist::rank() != 0) return;  // under mpirun rank 0 reports the whole job (dist/work_queue.h)
  print_summary(s, o.out);
  if (!s.failed.empty())
    throw InputError(o.labels, std::to_string(s.failed.size()) + " of " + std::to_string(s.slides) +
                                   " slides failed (listed above)");
}

}  // namespace

void register_predict(CLI::App& app, Globals& g) {
  auto o = std::make_shared<PredictOpts>();
  auto* sub = app.add_subcommand("predict", "Stage 4: predict every tissue window of each slide, one CSV per slide");
  sub->add_option("--model", o->model,
                  "Model file or bundle (.safetensors; a bundle's recipe sets the window defaults)")
      ->required();
  sub->add_option("--all-wsi", o->all_wsi, "Folder of slides (class sub-folders)")->required();
  sub->add_option("--labels", o->labels, "Label CSV (img,gt) of the slides to predict")->required();
  sub->add_option("--out", o->out, "Output folder for the prediction CSVs and predict.json")->required();
  sub->add_option("--batch-size", o->batch_size, "Patches per forward pass")->capture_default_str();
  sub->add_option(
         "--precision", o->precision,
         "fp32|bf16|int8|auto: the convolutions' arithmetic (bf16 needs a CPU with AVX512-BF16, int8 "
         "AVX512-VNNI or AVX-VNNI and a model calibrated by `deepslide calibrate`; auto: the fastest this CPU has "
         "whose agreement with fp32 the model records, else fp32); part of each slide's key")
      ->capture_default_str();
  sub->add_option("--readers", o->readers,
                  "Threads reading and decoding windows ahead of the network; 0: the network's threads read each batch "
                  "before its forward pass (no overlap); auto: 0 when --threads takes every core, else 1")
      ->capture_default_str();
  sub->add_flag("--force", o->force, "Redo slides whose CSV is up to date");
  sub->add_flag("--quiet", o->quiet, "No progress line (each slide's outcome and the summary are still printed)");
  sub->add_option("--commit-seconds", o->commit_seconds,
                  "Seconds between commits of a slide's predictions to its partial file (what a rerun continues from)")
      ->capture_default_str();
  sub->add_option("--annotations", o->annotations,
                  "Folder of annotation files (<slide-stem>.geojson/.json/.xml: QuPath GeoJSON, ASAP or Aperio XML): "
                  "predict only the windows "
                  "inside a slide's annotated regions (slides without a file: the whole slide)");
  sub->add_option("--annotation-cover", o->annotation_cover,
                  "With --annotations: share of a window the annotations must cover")
      ->capture_default_str();
  sub->add_option("--threads", g.threads, "Threads (default: all cores)");
  add_window_flags(sub, o->win, "3, or the bundle's");
  o->patch_flag = sub->get_option("--patch-size");
  o->patch_flag->description("Patch side in pixels (default and only allowed value: the model's)")->default_str("");
  sub->callback([o, &g] { run_predict(*o, g); });
}

}  // namespace ds::cli
