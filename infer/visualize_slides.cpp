// The visualize stage: predict.json's geometry, each slide's pictures, visualize.json.
#include "infer/visualize_slides.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/json_bounded.h"
#include "infer/colormap.h"
#include "infer/gradcam.h"
#include "infer/prediction_csv.h"
#include "infer/prediction_index.h"
#include "infer/visualize.h"
#include "slide/reader/resize.h"
#include "slide/reader/thumbnail.h"
#include "slide/windows/labels_csv.h"
#include "slide/windows/slide_stain.h"
#include "slide/windows/slide_windows.h"
#include "weights/model_forward.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

using ojson = nlohmann::ordered_json;

// Two pictures side by side, 4 white pixels apart, each scaled up by a whole factor to at least
// min_side wide.
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

// predict.json: the window geometry of the predictions and each slide's entry.
struct PredictMeta {
  PredictionIndex index;
  const nlohmann::json& j;
  std::string path;
  WindowOptions windows;
  explicit PredictMeta(const std::string& preds) : index(preds), j(index.json()), path(index.path()) {}
};

void read_predict_meta(PredictMeta& m) {
  if (!m.index.has_file()) throw InputError(m.path, "cannot open (written by predict; needed for the window geometry)");
  if (!m.j.contains("patch_size") || !m.j["patch_size"].is_number_integer())
    throw InputError(m.path, "not a predict.json (needs patch_size and slides)");
  m.windows.patch_size = m.j["patch_size"].get<int>();
  m.windows.overlap = number_or(m.j, "overlap", 3.0, m.path);
  m.windows.level = number_or(m.j, "level", 0, m.path);
  m.windows.mpp = number_or(m.j, "mpp", 0.0, m.path);
}

// Writes OUT/<name> and lists it in `files`.
class PictureWriter {
 public:
  PictureWriter(const std::string& out, ojson& files) : out_(out), files_(files) {}
  void save(const std::string& name, const RgbImage& img) {
    save_png((fs::path(out_) / name).string(), img);
    files_.push_back(name);
  }

 private:
  const std::string& out_;
  ojson& files_;
};

// For each class, Grad-CAM of the `per_class` windows with the highest probability of it.
void gradcam_pictures(Model& model, const Slide& slide, const WindowOptions& windows, const SlidePredictions& p,
                      int per_class, const std::string& stem, PictureWriter& w, Progress* progress) {
  const ReadGeometry geo = read_geometry(slide, windows);
  const SlideStain slide_stain = fit_slide_stain(slide, model.stain);  // (method none unless fitted per slide)
  for (size_t k = 0; k < p.classes.size(); ++k) {
    std::vector<size_t> order(p.patches.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return p.patches[a].probs[k] > p.patches[b].probs[k]; });
    order.resize(std::min(order.size(), (size_t)per_class));
    std::vector<RgbImage> patches;
    for (size_t i : order) patches.push_back(read_window(slide, geo, {p.patches[i].x, p.patches[i].y}));
    std::vector<CamMap> cams =
        grad_cam(model, make_batch(patches, model, {}, &slide_stain), std::vector<int>(order.size(), (int)k));
    for (size_t i = 0; i < order.size(); ++i)
      w.save(stem + "_gradcam_" + p.classes[k] + "_" + std::to_string(i) + ".png",
             side_by_side(patches[i], cam_overlay(patches[i], cams[i]), 128));
    if (progress) progress->add((int64_t)order.size());
  }
}

// What was drawn of one slide: visualize.json's entry. Pictures are named after the slide's
// output name (infer/prediction_index.h), so two slides that share a stem do not share pictures.
struct SlidePictures {
  std::string stem;       // the output name
  double downsample = 0;  // level-0 pixels per thumbnail pixel
  ojson files = ojson::array();
};

SlidePictures slide_pictures(const VisualizeOptions& o, const PredictMeta& meta, Model& model, const SlideLabel& row,
                             size_t item) {
  const std::string path = resolve_slide_path(o.all_wsi, row, o.labels);
  SlidePictures pics;
  pics.stem = meta.index.name_for(row);
  const std::string& stem = pics.stem;
  const std::string csv = meta.index.csv_of(stem);
  if (!meta.j["slides"].contains(stem) || !meta.j["slides"][stem].contains("window_side") ||
      !meta.j["slides"][stem]["window_side"].is_number_integer())
    throw InputError(meta.path, "no entry for slide " + row.img + " (predict it first)");
  if (const std::string why = meta.index.refusal(stem); !why.empty())
    throw InputError(csv, why + " (predict it again)");
  const int64_t side = meta.j["slides"][stem]["window_side"].get<int64_t>();
  if (o.progress) o.progress->phase((int64_t)item, row.img, "thumbnail and heatmaps", 0, 0, false);
  SlidePredictions p = read_prediction_csv(csv);
  auto slide = Slide::open(path);
  Thumbnail th = read_thumbnail(*slide, o.thumb_size);
  pics.downsample = th.downsample;
  PictureWriter w(o.out, pics.files);
  w.save(stem + "_thumb.png", th.image);
  if (o.dots)
    w.save(stem + "_dots.png",
           with_class_legend(draw_dots(th.image, th.downsample, p, side), stem + " predictions", p.classes));
  if (o.heatmaps)
    for (size_t k = 0; k < p.classes.size(); ++k)
      w.save(stem + "_heatmap_" + p.classes[k] + ".png",
             with_scale_legend(draw_heatmap(th.image, th.downsample, p, side, (int)k), "P(" + p.classes[k] + ")"));
  if (o.gradcam > 0 && !p.patches.empty()) {
    DS_CHECK_INPUT(p.classes == model.classes, csv + ": classes differ from the model's");
    if (o.progress)
      o.progress->phase((int64_t)item, row.img, "grad-cam",
                        (int64_t)p.classes.size() * std::min((int64_t)o.gradcam, (int64_t)p.patches.size()));
    gradcam_pictures(model, *slide, meta.windows, p, o.gradcam, stem, w, o.progress);
  }
  return pics;
}

}  // namespace

size_t visualize_slides(const VisualizeOptions& o,
                        const std::function<void(size_t, size_t, const std::string&, size_t)>& on_slide) {
  PredictMeta meta(o.preds);
  read_predict_meta(meta);
  Model model;
  if (o.gradcam > 0) {
    model = load_model(o.model);
    DS_CHECK_INPUT(model.patch_size == meta.windows.patch_size, o.model + ": patch size differs from the predictions'");
  }
  const std::vector<SlideLabel> rows = read_labels_csv(o.labels);
  fs::create_directories(o.out);
  ojson index = ojson::object();
  if (o.progress) o.progress->set_items((int64_t)rows.size());
  for (size_t si = 0; si < rows.size(); ++si) {
    const SlidePictures pics = slide_pictures(o, meta, model, rows[si], si);
    if (o.progress) o.progress->item_done();
    index[pics.stem] = {
        {"img", rows[si].img}, {"gt", rows[si].gt}, {"downsample", pics.downsample}, {"files", pics.files}};
    if (on_slide) on_slide(si, rows.size(), rows[si].img, pics.files.size());
  }
  ojson j;
  j["classes"] = meta.j.value("classes", std::vector<std::string>{});
  std::vector<std::string> colours;
  for (size_t k = 0; k < j["classes"].size(); ++k) colours.push_back(deepslide_class_color_name(k));
  j["colors"] = colours;
  j["slides"] = index;
  write_text_atomic((fs::path(o.out) / "visualize.json").string(), j.dump(2) + "\n");
  return rows.size();
}

}  // namespace ds
