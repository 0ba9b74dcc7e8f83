// `deepslide diagnose`: a bundle's recipe (infer/bundle.h) run on new slides, one diagnosis per
// slide. Per slide: every tissue window through the model (infer/slide_predictor.h), the
// prediction CSV written to DIR/<slide>/windows.csv and read back (so the aggregator sees the
// same numbers `evaluate` would), the bundle's aggregator applied, a heatmap per class over a
// thumbnail (infer/visualize.h), and DIR/<slide>/diagnosis.json recording the result with the
// bundle's content hash and the slide's identity, so a rerun skips what is still current.
// Predictions are committed as they go to DIR/<slide>/windows.partial (infer/resumable_prediction.h):
// a run killed mid-slide continues from there; SIGINT/SIGTERM commit and throw Interrupted.
// DIR/diagnoses.csv gathers the rows. A slide that fails is reported and the rest go on.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/progress.h"
#include "infer/bundle.h"
#include "infer/diagnose_inputs.h"
#include "infer/slide_predictor.h"

namespace ds {

struct DiagnoseOptions {
  std::vector<DiagnoseInput> slides;
  std::string out;  // DIR
  int batch_size = 64;
  int reader_threads = -1;       // as PredictOptions::reader_threads
  int select_threads = 0;        // tissue selection threads (0 = all)
  int thumb_size = 1024;         // longer side of the heatmaps' thumbnail
  bool force = false;            // redo slides whose outputs are current
  double commit_seconds = 30;    // between commits of a slide's predictions to DIR/<slide>/windows.partial
  Progress* progress = nullptr;  // phases "tissue scan", "predict", "heatmaps and GeoJSON"; may be null
  std::string annotations;       // regions of interest, as predict's (infer/predict.h)
  double annotation_cover = 0.5;
};

// One slide's diagnosis: a row of diagnoses.csv.
struct Diagnosis {
  std::string slide;           // the slide's path
  std::string name;            // its output folder under DIR
  std::string gt;              // from --labels, "" when unknown
  int diagnosis = 0;           // class index; kNoDiagnosis when no window counted (no evidence for any class)
  std::vector<double> scores;  // the aggregator's per-class slide scores (docs/formats.md says what they are)
  int64_t windows = 0;         // tissue windows predicted
  double tissue_mm2 = -1;      // area the tissue windows cover; < 0 when the slide has no mpp
  double seconds = 0;          // wall time of the slide's diagnosis
  std::string error;           // a slide that failed: why (its row has no diagnosis, scores or counts)
  static constexpr int kNoDiagnosis = -1;
  bool diagnosed() const { return diagnosis >= 0; }
  double confidence() const { return diagnosed() ? scores.at((size_t)diagnosis) : 0.0; }
};

struct DiagnoseEvent {
  enum class Status { diagnosed, skipped, failed };
  size_t index = 0, count = 0;
  Status status = Status::diagnosed;
  Diagnosis d;      // diagnosed, skipped
  std::string why;  // diagnosed: why it was (re)done; failed: the reason
  // diagnosed:
  SlidePredictStats stats;      // the prediction's windows and times (zero when reused)
  bool reused_windows = false;  // windows.csv was current (a run killed while drawing)
  std::string partial_note;     // windows.partial found and not used: why
  bool annotated = false;       // predicted inside the slide's annotations
  int64_t outside_roi = 0;      // tissue windows left out as outside them
};

struct DiagnoseSummary {
  size_t slides = 0, diagnosed = 0, skipped = 0;
  std::vector<std::string> undiagnosed;                     // slides (diagnosed or current) where no window counted
  std::vector<std::pair<std::string, std::string>> failed;  // slide path, reason
  std::string csv;                                          // DIR/diagnoses.csv
};

// The whole command; prints nothing but progress (each slide is reported through on_slide as it
// finishes). Throws Interrupted on a stop signal, after committing the current slide's chunk.
DiagnoseSummary diagnose_slides(Bundle& bundle, const DiagnoseOptions& opt,
                                const std::function<void(const DiagnoseEvent&)>& on_slide);

// diagnoses.csv: slide,diagnosis,confidence,score_<class>...,windows,tissue_mm2,seconds[,gt][,error]
// (gt only when some slide has one).
std::string diagnoses_csv_text(const std::vector<Diagnosis>& rows, const std::vector<std::string>& classes);
// The same fields as one JSON object (tissue_mm2 null without mpp), plus the output folder.
nlohmann::ordered_json diagnosis_json(const Diagnosis& d, const std::vector<std::string>& classes,
                                      const std::string& out);

// A slide's cheap identity: size and FNV-1a 64 of its first and last MiB (over every instance of a
// DICOM series: slide/reader/slide_identity.h). diagnose's records add the whole slide's SHA-256.
std::string slide_identity(const std::string& path);

}  // namespace ds
