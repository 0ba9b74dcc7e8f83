// deepslide visualize (stage 6): flags, one call to infer/visualize_slides.h's visualize_slides
// (thumbnails, dots, heatmaps and Grad-CAM pictures per slide, OUT/visualize.json), progress within
// each slide (base/progress.h), and a line per slide printed.
#include <iostream>
#include <memory>

#include "base/error.h"
#include "base/format.h"
#include "base/progress.h"
#include "base/threads.h"
#include "cli/commands.h"
#include "infer/visualize_slides.h"

namespace ds::cli {

namespace {

struct VisOpts {
  std::string all_wsi, labels, preds, out, mode = "both", model;
  int gradcam = 0;
  int thumb_size = 1024;
  bool quiet = false;
};

void run_visualize(const VisOpts& o, const Globals& g) {
  set_num_threads(g.threads);
  DS_CHECK_INPUT(o.mode == "dots" || o.mode == "heatmap" || o.mode == "both",
                 "--mode must be dots, heatmap or both, got '" + o.mode + "'");
  DS_CHECK_INPUT(o.gradcam >= 0, "--gradcam must be >= 0");
  DS_CHECK_INPUT(o.gradcam == 0 || !o.model.empty(), "--gradcam needs --model");
  DS_CHECK_INPUT(o.thumb_size >= 64 && o.thumb_size <= 8192, "--thumb-size must be in [64, 8192]");
  VisualizeOptions v;
  v.all_wsi = o.all_wsi;
  v.labels = o.labels;
  v.preds = o.preds;
  v.out = o.out;
  v.dots = o.mode != "heatmap";
  v.heatmaps = o.mode != "dots";
  v.gradcam = o.gradcam;
  v.model = o.model;
  v.thumb_size = o.thumb_size;
  Progress progress("visualize", 0, "windows", ProgressStyle::for_stderr(o.quiet));
  v.progress = &progress;
  const size_t slides = visualize_slides(v, [&](size_t i, size_t n, const std::string& img, size_t pictures) {
    const std::string line = "[" + std::to_string(i + 1) + "/" + std::to_string(n) + "] " + img + ": " +
                             std::to_string(pictures) + " pictures";
    if (o.quiet) std::cerr << line << "\n";
    else progress.print(line);
  });
  std::cout << "visualize: " << count_text((long long)slides, "slide") << ", pictures in " << o.out << "\n";
}

}  // namespace

void register_visualize(CLI::App& app, Globals& g) {
  auto o = std::make_shared<VisOpts>();
  auto* sub = app.add_subcommand("visualize", "Stage 6: dots, heatmaps and Grad-CAM on slide thumbnails");
  sub->add_option("--all-wsi", o->all_wsi, "Folder of slides (class sub-folders)")->required();
  sub->add_option("--labels", o->labels, "Label CSV (img,gt) of the slides")->required();
  sub->add_option("--preds", o->preds, "Folder of prediction CSVs and predict.json")->required();
  sub->add_option("--out", o->out, "Output folder for PNGs")->required();
  sub->add_option("--mode", o->mode, "dots|heatmap|both")->capture_default_str();
  sub->add_option("--gradcam", o->gradcam, "Grad-CAM for the K most confident windows of each class")
      ->capture_default_str();
  sub->add_option("--model", o->model, "Model file or bundle (needed for --gradcam)");
  sub->add_option("--thumb-size", o->thumb_size, "Longer side of the thumbnail")->capture_default_str();
  sub->add_flag("--quiet", o->quiet, "No progress line (each slide's line and the summary are still printed)");
  sub->add_option("--threads", g.threads, "Threads (default: all cores)");
  sub->callback([o, &g] { run_visualize(*o, g); });
}

}  // namespace ds::cli
