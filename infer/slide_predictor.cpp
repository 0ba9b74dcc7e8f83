// Ordered prefetching pipeline (BatchReader): reader threads claim batch indices from a counter,
// but never run more than prefetch_batches ahead of the network; the network thread takes batches
// strictly in order. The first exception (a corrupt tile, say) stops the readers and is rethrown
// here. With no reader threads each batch is read by the network's own OpenMP threads just before
// its forward pass: no overlap, but when the network's threads take every core a reader thread
// beside them stalls the whole team at each barrier for as long as it holds a core.
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
#include "base/int_math.h"
#include "base/threads.h"
#include "slide/windows/slide_stain.h"
#include "weights/model_forward.h"

namespace ds {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Batches of a slide's windows from `first` on, read, stain-normalised and normalised into
// channels-last tensors (the network's layout): by reader threads running ahead of the network
// (start), or, with none, on the calling thread's OpenMP team when the batch is taken.
class BatchReader {
 public:
  BatchReader(const Model& model, const Slide& slide, const ReadGeometry& g, const std::vector<Window>& windows,
              int64_t first, int64_t batch_size)
      : model_(model),
        slide_(slide),
        g_(g),
        windows_(windows),
        first_(first),
        n_((int64_t)windows.size() - first),
        B_(batch_size),
        nbatches_((n_ + B_ - 1) / B_),
        // A model fitted per slide: the slide's own stain once, before any window.
        stain_(fit_slide_stain(slide, model.stain)) {}
  ~BatchReader() { stop(); }

  int64_t batches() const { return nbatches_; }
  double read_seconds() {
    std::lock_guard<std::mutex> lk(mu_);
    return read_seconds_;
  }

  // `threads` reader threads, each at most `ahead` batches before the network (0: none).
  void start(int threads, int64_t ahead) {
    ahead_ = std::max<int64_t>(1, ahead);
    for (int r = 0; r < threads; ++r) readers_.emplace_back([this] { read_ahead(); });
  }

  // Batch b (batches are taken in order); the first reader failure is rethrown.
  Tensor take(int64_t b) {
    if (readers_.empty()) {
      const auto t0 = Clock::now();
      Tensor batch = read(b, true);
      read_seconds_ += since(t0);  // wall time: the network waits for all of it
      return batch;
    }
    Tensor batch;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return error_ || ready_.count(b); });
      if (error_) std::rethrow_exception(error_);
      batch = std::move(ready_[b]);
      ready_.erase(b);
      consumed_ = b + 1;
    }
    cv_.notify_all();
    return batch;
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : readers_) t.join();
    readers_.clear();
  }

 private:
  // Batch b's windows into a tensor; on the calling thread, or shared out among OpenMP threads
  // (the first failure rethrown once all have stopped).
  Tensor read(int64_t b, bool parallel) const {
    const int P = model_.patch_size;
    const int64_t begin = b * B_, end = std::min(n_, begin + B_);
    Tensor batch = Tensor::empty(Shape{end - begin, P, P, 3});
    std::exception_ptr error;
    std::mutex error_mu;
    std::atomic<bool> failed{false};
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (int64_t i = begin; i < end; ++i) {
      if (failed.load(std::memory_order_relaxed)) continue;  // the batch is lost: read no more of it
      try {
        RgbImage patch = read_window(slide_, g_, windows_[(size_t)(first_ + i)], 1);
        normalize_stain(patch, model_.stain, stain_);
        normalize_patch_channels_last(batch.data() + (i - begin) * 3 * P * P, patch, model_.mean, model_.std);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mu);
        if (!error) error = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
    }
    if (error) std::rethrow_exception(error);
    return batch;
  }

  // A reader thread: claims the next batch index while it is within `ahead` of the network.
  void read_ahead() {
    for (;;) {
      int64_t b;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || next_ >= nbatches_ || next_ < consumed_ + ahead_; });
        if (stop_ || next_ >= nbatches_) return;
        b = next_++;
      }
      try {
        const auto t0 = Clock::now();
        Tensor batch = read(b, false);
        const double dt = since(t0);
        std::lock_guard<std::mutex> lk(mu_);
        ready_.emplace(b, std::move(batch));
        read_seconds_ += dt;
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        if (!error_) error_ = std::current_exception();
        stop_ = true;
      }
      cv_.notify_all();
    }
  }

  const Model& model_;
  const Slide& slide_;
  const ReadGeometry& g_;
  const std::vector<Window>& windows_;
  const int64_t first_, n_, B_, nbatches_;
  const SlideStain stain_;
  std::vector<std::thread> readers_;
  int64_t ahead_ = 1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, Tensor> ready_;
  int64_t consumed_ = 0;  // batches taken by the network
  int64_t next_ = 0;      // next batch index to claim
  std::exception_ptr error_;
  bool stop_ = false;
  double read_seconds_ = 0;  // summed over reader threads, or the wall time of inline reads
};

// One row per window of a batch: its position, the arg-max class, its confidence and every
// class's probability.
void fill_rows(const Tensor& probs, const std::vector<Window>& windows, int64_t begin, size_t K,
               std::vector<PatchPrediction>& rows) {
  rows.resize((size_t)probs.size(0));
  for (int64_t i = 0; i < probs.size(0); ++i) {
    const float* row = probs.data() + i * (int64_t)K;
    PatchPrediction& r = rows[(size_t)i];
    r.x = windows[(size_t)(begin + i)].x;
    r.y = windows[(size_t)(begin + i)].y;
    r.prediction = argmax_class(row, K);
    r.confidence = row[r.prediction];
    r.probs.assign(row, row + K);
  }
}

}  // namespace

size_t raster_cache_bytes(const SlideLevel& lv, int region) {
  const int64_t tw = lv.tile_width > 0 ? lv.tile_width : std::max<int64_t>(lv.width, 1);
  const int64_t th = lv.tile_height > 0 ? lv.tile_height : std::max<int64_t>(lv.height, 1);
  const double rows = (double)(ceil_div(2 * (int64_t)std::max(region, 1), th) + 1);
  const double bytes = (double)ceil_div(std::max<int64_t>(lv.width, 1), tw) * rows * (double)tw * (double)th * 3.0;
  return (size_t)std::clamp(bytes, (double)(size_t(16) << 20), (double)Slide::kDefaultCacheBytes);
}

void predict_windows_streaming(Model& model, const Slide& slide, const ReadGeometry& g,
                               const std::vector<Window>& windows, int64_t first, const PredictOptions& opt,
                               const BatchCallback& on_batch, SlidePredictStats* stats) {
  DS_CHECK_INPUT(opt.batch_size >= 1, "--batch-size must be at least 1");
  DS_CHECK_INPUT(g.patch == model.patch_size, "patch size " + std::to_string(g.patch) + " does not match the model's " +
                                                  std::to_string(model.patch_size));
  DS_CHECK(first >= 0 && first <= (int64_t)windows.size(), "first window out of range");
  if (stats) {
    stats->windows = (int64_t)windows.size();
    stats->resumed = first;
  }
  if (first == (int64_t)windows.size()) return;

  // Only lowered: a smaller budget the caller chose stays.
  slide.cache().set_budget(std::min(slide.cache().budget(), raster_cache_bytes(slide.level(g.level), g.region)));
  BatchReader reader(model, slide, g, windows, first, opt.batch_size);
  const bool inline_reads = opt.reader_threads == 0 || (opt.reader_threads < 0 && num_threads() >= hardware_threads());
  reader.start(inline_reads ? 0 : (int)std::clamp<int64_t>(opt.reader_threads, 1, reader.batches()),
               opt.prefetch_batches);
  double net_seconds = 0;
  std::vector<PatchPrediction> rows;
  for (int64_t b = 0; b < reader.batches(); ++b) {
    const Tensor batch = reader.take(b);
    const auto t0 = Clock::now();
    const Tensor probs = predict_probabilities_channels_last(model, batch);
    net_seconds += since(t0);
    const int64_t begin = first + b * opt.batch_size;
    fill_rows(probs, windows, begin, model.classes.size(), rows);
    if (stats) {  // kept current, so a callback that throws leaves true figures behind
      stats->read_seconds = reader.read_seconds();
      stats->net_seconds = net_seconds;
    }
    on_batch(rows, begin + batch.size(0));
  }
  reader.stop();
  if (stats) {
    stats->read_seconds = reader.read_seconds();
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
