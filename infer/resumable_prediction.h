// One slide's tissue windows through the model with its work committed as it goes, shared by
// predict and diagnose: the windows come from the slide's partial file when one for the same key
// exists (infer/partial_predictions.h), else from a tissue scan (optionally narrowed to annotated
// regions of interest); predictions are appended to the partial file every `commit_seconds`; on
// SIGINT/SIGTERM the chunk in hand is committed and Interrupted thrown, naming the partial file.
// The finished CSV text is byte-identical to an uninterrupted run's, whatever was resumed.
#pragma once
#include <cstdint>
#include <string>

#include "base/progress.h"
#include "infer/prediction_key.h"
#include "infer/slide_predictor.h"
#include "slide/windows/annotations.h"

namespace ds {

struct ResumableOptions {
  PredictOptions predict;        // windows, batch size, threads
  double commit_seconds = 30;    // between two commits of the partial file
  Progress* progress = nullptr;  // phases "tissue scan" and "predict"; may be null
};

struct ResumableSlide {
  std::string label;                      // the slide as the user named it (progress, messages)
  std::string partial_path;               // its partial file
  ojson key;                              // what its predictions depend on (infer/prediction_key.h)
  int64_t item = 0;                       // its index among the run's slides (progress)
  const SlideAnnotations* roi = nullptr;  // when set, only windows these cover by >= roi_cover
  double roi_cover = 0.5;
};

struct ResumedPredictions {
  std::string csv;           // the prediction CSV text, header included
  SlidePredictStats stats;   // candidates, windows, resumed, and where the time went
  std::string partial_note;  // a partial file found and not used: why ("" otherwise)
  int64_t outside_roi = 0;   // tissue windows dropped for lying outside the annotations
};

ResumedPredictions predict_slide_resumable(Model& model, const Slide& slide, const ResumableOptions& opt,
                                           const ResumableSlide& job);

// Writes the finished CSV and its key file (atomically, in that order) and removes the partial
// file: after this a rerun with the same key reuses the CSV.
void finish_prediction_csv(const std::string& csv_path, const std::string& key_path, const std::string& partial_path,
                           const ojson& key, const std::string& csv_text);

// The key's record of a slide's annotations (--annotations): the file's name and content hash and
// the cover, or "none" when the slide has no annotation file (then the whole slide is predicted).
ojson annotation_key(const std::optional<std::string>& file, double cover);

}  // namespace ds
