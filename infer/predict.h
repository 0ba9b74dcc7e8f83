// Stage 4, predict: every tissue window of every slide in a label CSV through the model, one CSV
// per slide (OUT/<slide stem>.csv, infer/prediction_csv.h) plus OUT/predict.json (model,
// classes, window geometry per slide: what visualize and report need). Slides whose CSV exists
// are skipped unless `force`; a slide that fails is reported with its reason and the rest go on.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "infer/slide_predictor.h"
#include "weights/model.h"

namespace ds {

struct PredictSlidesOptions {
  std::string model_path;  // recorded in predict.json
  std::string all_wsi;     // folder of slides
  std::string labels;      // label CSV (img,gt) of the slides to predict
  std::string out;         // output folder
  PredictOptions predict;  // windows (patch size: the model's), batch size, threads
  bool force = false;      // redo slides whose CSV exists
};

// One slide's outcome, reported as it finishes.
struct SlideOutcome {
  enum class Status { predicted, skipped, failed };
  size_t index = 0, count = 0;  // slide index + 1 of count
  std::string img;              // as in the label CSV
  Status status = Status::predicted;
  std::string csv;              // its prediction CSV
  SlidePredictStats stats;      // predicted
  std::string error;            // failed
};

struct PredictSummary {
  size_t slides = 0;        // in the label CSV
  int64_t windows = 0;      // predicted, over all slides
  double seconds = 0;       // wall time of the slide loop
  double net_seconds = 0;   // of which in the network
  std::vector<std::string> skipped, empty;  // imgs: CSV already there; no tissue window
  std::vector<std::pair<std::string, std::string>> failed;  // img, reason
};

// The whole stage; prints nothing.
PredictSummary predict_slides(Model& model, const PredictSlidesOptions& opt,
                              const std::function<void(const SlideOutcome&)>& on_slide);

}  // namespace ds
