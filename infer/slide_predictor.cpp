// Ordered prefetching pipeline: reader threads claim batch indices from a counter, but never run
// more than prefetch_batches ahead of the network; the network thread takes batches strictly in
// order. The first exception (a corrupt tile, say) stops the readers and is rethrown here. With no
// reader threads each batch is read by the network's own OpenMP threads just before its forward
// pass: no overlap, but when the network's threads take every core a reader thread beside them
// stalls the whole team at each barrier for as long as it holds a core.
#include "infer/slide_predictor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "base/error.h"
#include "base/threads.h"
#include "slide/windows/slide_stain.h"
#include "weights/model_forward.h"

namespace ds {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct BatchQueue {
  std::mutex mu;
  std::condition_variable cv;
  std::map<int64_t, Tensor> ready;
  int64_t consumed = 0;  // batches taken by the network
  int64_t next = 0;      // next batch index to claim
  std::exception_ptr error;
  bool stop = false;
  double read_seconds = 0;
};

}  // namespace

void predict_windows_streaming(Model& model, const Slide& slide, const ReadGeometry& g,
                               const std::vector<Window>& windows, int64_t first, const PredictOptions& opt,
                               const BatchCallback& on_batch, SlidePredictStats* stats) {
  DS_CHECK_INPUT(opt.batch_size >= 1, "--batch-size must be at least 1");
  DS_CHECK_INPUT(g.patch == model.patch_size, "patch size " + std::to_string(g.patch) + " does not match the model's " +
                                                  std::to_string(model.patch_size));
  DS_CHECK(first >= 0 && first <= (int64_t)windows.size(), "first window out of range");
  const int64_t n = (int64_t)windows.size() - first;  // windows to predict, from `first` on
  const int64_t B = opt.batch_size;
  const int64_t nbatches = (n + B - 1) / B;
  const int P = model.patch_size;
  const size_t K = model.classes.size();
  if (stats) {
    stats->windows = (int64_t)windows.size();
    stats->resumed = first;
  }
  if (n == 0) return;

  // A model fitted per slide: the slide's own stain once, before any window (method none otherwise).
  const SlideStain slide_stain = fit_slide_stain(slide, model.stain);
  // Batch b's windows read, stain-normalised and normalised into a tensor; on the calling thread,
  // or shared out among OpenMP threads (the first failure rethrown once all have stopped).
  auto read_batch = [&](int64_t b, bool parallel) {
    const int64_t begin = b * B, end = std::min(n, begin + B);
    Tensor batch = Tensor::empty(Shape{end - begin, P, P, 3});  // channels-last: the network's layout
    std::exception_ptr error;
    std::mutex error_mu;
    std::atomic<bool> failed{false};
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (int64_t i = begin; i < end; ++i) {
      if (failed.load(std::memory_order_relaxed)) continue;  // the batch is lost: read no more of it
      try {
        RgbImage patch = read_window(slide, g, windows[(size_t)(first + i)], 1);
        normalize_stain(patch, model.stain, slide_stain);
        normalize_patch_channels_last(batch.data() + (i - begin) * 3 * P * P, patch, model.mean, model.std);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mu);
        if (!error) error = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
    }
    if (error) std::rethrow_exception(error);
    return batch;
  };
  BatchQueue q;
  const int64_t ahead = std::max(1, opt.prefetch_batches);
  auto reader = [&] {
    for (;;) {
      int64_t b;
      {
        std::unique_lock<std::mutex> lk(q.mu);
        q.cv.wait(lk, [&] { return q.stop || q.next >= nbatches || q.next < q.consumed + ahead; });
        if (q.stop || q.next >= nbatches) return;
        b = q.next++;
      }
      try {
        auto t0 = Clock::now();
        Tensor batch = read_batch(b, false);
        double dt = since(t0);
        std::lock_guard<std::mutex> lk(q.mu);
        q.ready.emplace(b, std::move(batch));
        q.read_seconds += dt;
      } catch (...) {
        std::lock_guard<std::mutex> lk(q.mu);
        if (!q.error) q.error = std::current_exception();
        q.stop = true;
      }
      q.cv.notify_all();
    }
  };
  std::vector<std::thread> readers;
  const bool inline_reads = opt.reader_threads == 0 || (opt.reader_threads < 0 && num_threads() >= hardware_threads());
  const int nreaders = inline_reads ? 0 : (int)std::clamp<int64_t>(opt.reader_threads, 1, nbatches);
  for (int r = 0; r < nreaders; ++r) readers.emplace_back(reader);
  auto stop_readers = [&] {
    {
      std::lock_guard<std::mutex> lk(q.mu);
      q.stop = true;
    }
    q.cv.notify_all();
    for (auto& t : readers) t.join();
  };

  double net_seconds = 0;
  std::vector<PatchPrediction> rows;
  try {
    for (int64_t b = 0; b < nbatches; ++b) {
      Tensor batch;
      if (inline_reads) {
        auto t0 = Clock::now();
        batch = read_batch(b, true);
        q.read_seconds += since(t0);  // wall time: the network waits for all of it
      } else {
        std::unique_lock<std::mutex> lk(q.mu);
        q.cv.wait(lk, [&] { return q.error || q.ready.count(b); });
        if (q.error) std::rethrow_exception(q.error);
        batch = std::move(q.ready[b]);
        q.ready.erase(b);
        q.consumed = b + 1;
      }
      q.cv.notify_all();
      auto t0 = Clock::now();
      Tensor probs = predict_probabilities_channels_last(model, batch);
      net_seconds += since(t0);
      const int64_t begin = first + b * B;
      rows.resize((size_t)batch.size(0));
      for (int64_t i = 0; i < batch.size(0); ++i) {
        const float* row = probs.data() + i * (int64_t)K;
        PatchPrediction& r = rows[(size_t)i];
        r.x = windows[(size_t)(begin + i)].x;
        r.y = windows[(size_t)(begin + i)].y;
        r.prediction = argmax_class(row, K);
        r.confidence = row[r.prediction];
        r.probs.assign(row, row + K);
      }
      if (stats) {  // kept current, so a callback that throws leaves true figures behind
        stats->read_seconds = q.read_seconds;
        stats->net_seconds = net_seconds;
      }
      on_batch(rows, begin + batch.size(0));
    }
  } catch (...) {
    stop_readers();
    throw;
  }
  stop_readers();
  if (stats) {
    stats->read_seconds = q.read_seconds;
    stats->net_seconds = net_seconds;
  }
}

SlidePredictions predict_windows(Model& model, const Slide& slide, const ReadGeometry& g,
                                 const std::vector<Window>& windows, const PredictOptions& opt,
                                 SlidePredictStats* stats) {
  SlidePredictions out;
  out.classes = model.classes;
  out.patches.reserve(windows.size());
  predict_windows_streaming(
      model, slide, g, windows, 0, opt,
      [&](const std::vector<PatchPrediction>& batch, int64_t) {
        out.patches.insert(out.patches.end(), batch.begin(), batch.end());
      },
      stats);
  return out;
}

SlidePredictions predict_slide(Model& model, const Slide& slide, const PredictOptions& opt, SlidePredictStats* stats) {
  auto t0 = Clock::now();
  SlideWindows sw = select_windows(slide, opt.windows, opt.select_threads);
  const double scan = since(t0);
  SlidePredictStats local;
  SlidePredictions p = predict_windows(model, slide, sw.geometry, sw.windows, opt, &local);
  local.candidates = sw.candidates;
  local.scan_seconds = scan;
  local.seconds = since(t0);
  if (stats) *stats = local;
  return p;
}

}  // namespace ds
