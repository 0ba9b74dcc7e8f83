// Stage 4 for one slide: every tissue window through the model. Reader threads read and decode
// the windows of upcoming batches (and normalize them) while the network runs on the current
// batch, so I/O and compute overlap; batches come out in window order.
#pragma once
#include <cstdint>
#include <functional>

#include "infer/prediction_csv.h"
#include "slide/reader/slide.h"
#include "slide/windows/slide_windows.h"
#include "weights/model.h"

namespace ds {

struct PredictOptions {
  WindowOptions windows;    // patch_size must equal the model's
  int batch_size = 64;
  int reader_threads = 1;   // threads reading/decoding ahead of the network
  int prefetch_batches = 2; // batches ready or in flight ahead of the network
  int select_threads = 0;   // threads for tissue selection (0 = all)
};

struct SlidePredictStats {
  int64_t candidates = 0;   // grid windows examined
  int64_t windows = 0;      // tissue windows predicted
  double read_seconds = 0;  // summed over reader threads
  double net_seconds = 0;   // network time (main thread)
  double seconds = 0;       // wall time for the slide, tissue selection included
};

// Predicts every tissue window of `slide`. Throws what reading or the model throws.
SlidePredictions predict_slide(Model& model, const Slide& slide, const PredictOptions& opt,
                               SlidePredictStats* stats = nullptr);

// Lower level: predicts the given windows (level-0 coordinates) read with geometry g.
SlidePredictions predict_windows(Model& model, const Slide& slide, const ReadGeometry& g,
                                 const std::vector<Window>& windows, const PredictOptions& opt,
                                 SlidePredictStats* stats = nullptr);

}  // namespace ds
