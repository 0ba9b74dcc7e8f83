// Stage 6, visualize: per slide of a label CSV, from its prediction CSV and a thumbnail read from
// a pyramid level: OUT/<name>_thumb.png, OUT/<name>_dots.png (DeepSlide's coloured dots with a
// class key), OUT/<name>_heatmap_<class>.png (probability heatmap with a scale) and, with
// gradcam K and a model, OUT/<name>_gradcam_<class>_<i>.png for the K windows with the highest
// probability of each class (patch left, Grad-CAM overlay right); <name> is the slide's output
// name (infer/prediction_index.h). OUT/visualize.json lists what was written per slide, keyed by
// that name, with img and gt. The slides' CSVs and window geometry come from predict.json.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

#include "base/progress.h"

namespace ds {

struct VisualizeOptions {
  std::string all_wsi;  // folder of slides
  std::string labels;   // label CSV (img,gt) of the slides
  std::string preds;    // predict's folder: prediction CSVs and predict.json
  std::string out;      // output folder
  bool dots = true, heatmaps = true;
  int gradcam = 0;        // windows per class; needs model
  std::string model;      // model file
  int thumb_size = 1024;  // longer side of the thumbnail
  // Per slide, phases "thumbnail and heatmaps" and "grad-cam" (its windows, class by class); may be null.
  Progress* progress = nullptr;
};

// The whole stage; on_slide(index, count, img, pictures written) after each slide. Returns the
// number of slides. Prints nothing.
size_t visualize_slides(const VisualizeOptions& opt,
                        const std::function<void(size_t, size_t, const std::string&, size_t)>& on_slide);

}  // namespace ds
