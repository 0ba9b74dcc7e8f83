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
  WindowOptions windows;  // patch_size must equal the model's
  int batch_size = 64;
  // Threads reading/decoding ahead of the network; 0: the network's threads, between batches
  // (no overlap); -1: 0 when the network's threads take every core, else 1.
  int reader_threads = -1;
  int prefetch_batches = 2;  // batches ready or in flight ahead of the network
  int select_threads = 0;    // threads for tissue selection (0 = all)
};

struct SlidePredictStats {
  int64_t candidates = 0;     // grid windows examined
  int64_t windows = 0;        // tissue windows predicted
  int64_t resumed = 0;        // of which committed by an earlier, interrupted run
  double scan_seconds = 0;    // tissue selection (wall time)
  double read_seconds = 0;    // summed over reader threads (no reader threads: the wall time of the reads)
  double net_seconds = 0;     // network time (main thread)
  double seconds = 0;         // wall time for the slide, tissue selection included
  int64_t commits = 0;        // partial-file commits (infer/resumable_prediction.h)
  double commit_seconds = 0;  // time they took
};

// Called on the network thread after each batch, in window order, with the batch's predictions
// and the number of windows done so far (resumed ones included). It may throw to stop: the
// readers are stopped and the exception propagates.
using BatchCallback = std::function<void(const std::vector<PatchPrediction>& batch, int64_t done)>;

// Predicts every tissue window of `slide`. Throws what reading or the model throws.
SlidePredictions predict_slide(Model& model, const Slide& slide, const PredictOptions& opt,
                               SlidePredictStats* stats = nullptr);

// Lower level: predicts the given windows (level-0 coordinates) read with geometry g.
SlidePredictions predict_windows(Model& model, const Slide& slide, const ReadGeometry& g,
                                 const std::vector<Window>& windows, const PredictOptions& opt,
                                 SlidePredictStats* stats = nullptr);
// The decoded tiles a raster of windows `region` pixels wide at level lv reuses: the tile rows
// one row of windows spans and the next row's (at most `region` below), across the level, at
// least 16 MB and at most the slide's default budget. predict_windows_streaming lowers the slide's
// tile cache to it: the cache's pages are first touched as it fills, and filling Slide's default
// 256 MB cost the first slide of a run ~0.35 s of page faults (the reading time of 2550 int8
// windows, 0.3 -> 0.65 s on a 2-core VM) and 230 MB of peak RSS, with no tile read twice.
size_t raster_cache_bytes(const SlideLevel& lv, int region);

// Streaming form: predicts windows[first..] and hands each batch to on_batch instead of keeping
// them (a resumed slide starts at `first`; a slide's rows need not all be held in memory).
// stats: windows = windows.size(), resumed = first, read and network time.
void predict_windows_streaming(Model& model, const Slide& slide, const ReadGeometry& g,
                               const std::vector<Window>& windows, int64_t first, const PredictOptions& opt,
                               const BatchCallback& on_batch, SlidePredictStats* stats = nullptr);

}  // namespace ds
