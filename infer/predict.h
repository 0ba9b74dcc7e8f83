// Stage 4, predict: every tissue window of every slide in a label CSV through the model, one CSV
// per slide plus OUT/predict.json (model, classes, window geometry and timings per slide: what
// search, evaluate, visualize and report need to find and draw the CSVs).
//
// Outputs are named after the slide's path under the slide folder (infer/prediction_index.h),
// so slides that share a stem never share a CSV. Each CSV has a key file recording what made it
// (infer/prediction_key.h); a rerun skips a slide only when its key is the same, else redoes it
// and says why. A slide's predictions are committed every `commit_seconds` to a partial file
// (infer/partial_predictions.h, infer/resumable_prediction.h) that a rerun continues from; the finished CSV is
// byte-identical to an uninterrupted run's. On SIGINT/SIGTERM (base/interrupt.h) the current chunk is committed and
// Interrupted is thrown. A slide that fails (unreadable, corrupt, too large for memory) is reported with its reason and
// the rest go on.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/progress.h"
#include "infer/slide_predictor.h"
#include "weights/model.h"

namespace ds {

struct PredictSlidesOptions {
  std::string model_path;  // recorded in predict.json, hashed into each slide's key
  std::string all_wsi;     // folder of slides
  std::string labels;      // label CSV (img,gt) of the slides to predict
  std::string out;         // output folder
  PredictOptions predict;  // windows (patch size: the model's), batch size, threads
  bool force = false;      // redo slides whose CSV is up to date
  // Seconds between two commits of a slide's partial file. Each commit rewrites the partial file
  // (a few MB for 100,000 windows) and syncs it: tens of milliseconds every 30 s.
  double commit_seconds = 30;
  Progress* progress = nullptr;  // phases "tissue scan" and "predict" of each slide; may be null
  // Regions of interest: a folder of annotation files (slide/windows/annotations.h); a slide with
  // one is predicted only in windows its annotations cover by at least annotation_cover, a slide
  // without one whole. The annotation file's hash is part of the slide's key.
  std::string annotations;
  double annotation_cover = 0.5;
};

// One slide's outcome, reported as it finishes.
struct SlideOutcome {
  enum class Status { predicted, skipped, failed };
  size_t index = 0, count = 0;  // slide index + 1 of count
  std::string img;              // as in the label CSV
  std::string name;             // its outputs' name (OUT/<name>.csv)
  Status status = Status::predicted;
  std::string csv;           // its prediction CSV
  std::string redo_reason;   // predicted although a CSV was there: why ("" when there was none)
  std::string partial_note;  // a partial file found and not used: why
  SlidePredictStats stats;   // predicted
  bool annotated = false;    // predicted inside the slide's annotations (--annotations)
  int64_t outside_roi = 0;   // tissue windows left out as outside them
  std::string error;         // failed
};

struct PredictSummary {
  size_t slides = 0;                                        // in the label CSV
  int64_t windows = 0;                                      // predicted, over all slides
  int64_t resumed = 0;                                      // of which taken from partial files
  double seconds = 0;                                       // wall time of the slide loop
  double scan_seconds = 0;                                  // of which in tissue scans
  double read_seconds = 0;                                  // reading windows (SlidePredictStats::read_seconds)
  double net_seconds = 0;                                   // in the network
  std::vector<std::string> skipped, empty;                  // imgs: CSV up to date; no tissue window
  std::vector<std::pair<std::string, std::string>> failed;  // img, reason
  // Slides an earlier run listed in predict.json, not in this label CSV, whose CSVs were made
  // with other settings (another model, other windows...): no longer listed. img, why.
  std::vector<std::pair<std::string, std::string>> unlisted;
};

// The whole stage; prints nothing (progress goes to opt.progress). Throws Interrupted on a stop
// signal, after committing the current slide's partial file and predict.json.
PredictSummary predict_slides(Model& model, const PredictSlidesOptions& opt,
                              const std::function<void(const SlideOutcome&)>& on_slide);

}  // namespace ds
