// deepslide visualize (stage 6): per slide of a label CSV, from its prediction CSV and a
// thumbnail read from a pyramid level: OUT/<stem>_thumb.png, OUT/<stem>_dots.png (DeepSlide's
// coloured dots with a class key), OUT/<stem>_heatmap_<class>.png (probability heatmap with a
// scale) and, with --gradcam K and --model, OUT/<stem>_gradcam_<class>_<i>.png for the K windows
// with the highest probability of each class (patch left, Grad-CAM overlay right).
// OUT/visualize.json lists what was written per slide.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <numeric>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "base/threads.h"
#include "infer/colormap.h"
#include "infer/gradcam.h"
#include "infer/prediction_csv.h"
#include "infer/visualize.h"
#include "slide/windows/labels_csv.h"
#include "slide/reader/resize.h"
#include "slide/windows/slide_windows.h"
#include "slide/reader/thumbnail.h"
#include "weights/model_forward.h"

namespace fs = std::filesystem;

namespace ds::cli {

namespace {

struct VisOpts {
  std::string all_wsi, labels, preds, out, mode = "both", model;
  int gradcam = 0;
  int thumb_size = 1024;
};

RgbImage side_by_side(const RgbImage& a, const RgbImage& b, int min_side) {
  const int scale = std::max(1, (min_side + a.width - 1) / a.width);
  RgbImage big_a = resize_area(a, a.width * scale, a.height * scale);
  RgbImage big_b = resize_area(b, b.width * scale, b.height * scale);
  RgbImage out(big_a.width * 2 + 4, big_a.height, 255);
  for (int y = 0; y < big_a.height; ++y) {
    std::copy(big_a.row(y), big_a.row(y) + big_a.width * 3, out.row(y));
    std::copy(big_b.row(y), big_b.row(y) + big_b.width * 3, out.row(y) + (big_a.width + 4) * 3);
  }
  return out;
}

void run_visualize(const VisOpts& o, const Globals& g) {
  set_num_threads(g.threads);
  DS_CHECK_INPUT(o.mode == "dots" || o.mode == "heatmap" || o.mode == "both",
                 "--mode must be dots, heatmap or both, got '" + o.mode + "'");
  DS_CHECK_INPUT(o.gradcam >= 0, "--gradcam must be >= 0");
  DS_CHECK_INPUT(o.gradcam == 0 || !o.model.empty(), "--gradcam needs --model");
  DS_CHECK_INPUT(o.thumb_size >= 64 && o.thumb_size <= 8192, "--thumb-size must be in [64, 8192]");
  const fs::path meta_path = fs::path(o.preds) / "predict.json";
  std::ifstream in(meta_path);
  if (!in) throw InputError(meta_path.string(), "cannot open (written by predict; needed for the window geometry)");
  nlohmann::json meta = nlohmann::json::parse(in, nullptr, false);
  if (meta.is_discarded() || !meta.contains("slides") || !meta.contains("patch_size"))
    throw InputError(meta_path.string(), "not a predict.json (needs patch_size and slides)");
  WindowOptions wopt;
  wopt.patch_size = meta["patch_size"].get<int>();
  wopt.overlap = meta.value("overlap", 3.0);
  wopt.level = meta.value("level", 0);
  wopt.mpp = meta.value("mpp", 0.0);
  Model model;
  if (o.gradcam > 0) {
    model = load_model(o.model);
    DS_CHECK_INPUT(model.patch_size == wopt.patch_size, o.model + ": patch size differs from the predictions'");
  }
  auto rows = read_labels_csv(o.labels);
  fs::create_directories(o.out);
  nlohmann::ordered_json index = nlohmann::ordered_json::object();
  auto save = [&](nlohmann::ordered_json& list, const std::string& name, const RgbImage& img) {
    save_png((fs::path(o.out) / name).string(), img);
    list.push_back(name);
  };
  for (size_t si = 0; si < rows.size(); ++si) {
    const std::string path = resolve_slide_path(o.all_wsi, rows[si], o.labels);
    const std::string stem = fs::path(path).stem().string();
    const std::string csv = (fs::path(o.preds) / (stem + ".csv")).string();
    if (!meta["slides"].contains(stem))
      throw InputError(meta_path.string(), "no entry for slide " + stem + " (predict it first)");
    const int64_t side = meta["slides"][stem].at("window_side").get<int64_t>();
    SlidePredictions p = read_prediction_csv(csv);
    auto slide = Slide::open(path);
    Thumbnail th = read_thumbnail(*slide, o.thumb_size);
    nlohmann::ordered_json files = nlohmann::ordered_json::array();
    save(files, stem + "_thumb.png", th.image);
    if (o.mode != "heatmap")
      save(files, stem + "_dots.png",
           with_class_legend(draw_dots(th.image, th.downsample, p, side), stem + " predictions", p.classes));
    if (o.mode != "dots")
      for (size_t k = 0; k < p.classes.size(); ++k)
        save(files, stem + "_heatmap_" + p.classes[k] + ".png",
             with_scale_legend(draw_heatmap(th.image, th.downsample, p, side, (int)k), "P(" + p.classes[k] + ")"));
    if (o.gradcam > 0 && !p.patches.empty()) {
      DS_CHECK_INPUT(p.classes == model.classes, csv + ": classes differ from the model's");
      ReadGeometry geo = read_geometry(*slide, wopt);
      for (size_t k = 0; k < p.classes.size(); ++k) {
        std::vector<size_t> order(p.patches.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
          return p.patches[a].probs[k] > p.patches[b].probs[k];
        });
        order.resize(std::min(order.size(), (size_t)o.gradcam));
        std::vector<RgbImage> patches;
        for (size_t i : order) patches.push_back(read_window(*slide, geo, {p.patches[i].x, p.patches[i].y}));
        std::vector<CamMap> cams = grad_cam(model, make_batch(patches, model), std::vector<int>(order.size(), (int)k));
        for (size_t i = 0; i < order.size(); ++i)
          save(files, stem + "_gradcam_" + p.classes[k] + "_" + std::to_string(i) + ".png",
               side_by_side(patches[i], cam_overlay(patches[i], cams[i]), 128));
      }
    }
    index[stem] = {{"img", rows[si].img}, {"gt", rows[si].gt}, {"downsample", th.downsample}, {"files", files}};
    std::cerr << "[" << si + 1 << "/" << rows.size() << "] " << rows[si].img << ": " << files.size()
              << " pictures\n";
  }
  nlohmann::ordered_json j;
  j["classes"] = meta.value("classes", std::vector<std::string>{});
  std::vector<std::string> colours;
  for (size_t k = 0; k < j["classes"].size(); ++k) colours.push_back(deepslide_class_color_name(k));
  j["colors"] = colours;
  j["slides"] = index;
  const std::string s = j.dump(2) + "\n";
  write_file_atomic((fs::path(o.out) / "visualize.json").string(), s.data(), s.size());
  std::cout << "visualize: " << rows.size() << " slides, pictures in " << o.out << "\n";
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
  sub->add_option("--model", o->model, "Model file (needed for --gradcam)");
  sub->add_option("--thumb-size", o->thumb_size, "Longer side of the thumbnail")->capture_default_str();
  sub->add_option("--threads", g.threads, "Threads (default: all cores)");
  sub->callback([o, &g] { run_visualize(*o, g); });
}

}  // namespace ds::cli
