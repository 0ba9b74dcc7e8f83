// The tissue scan or the partial file, the streaming loop with its commits, and the finish.
#include "infer/resumable_prediction.h"

#include <chrono>
#include <filesystem>

#include "base/atomic_file.h"
#include "base/file_hash.h"
#include "base/interrupt.h"
#include "infer/partial_predictions.h"
#include "slide/windows/annotated_windows.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The tissue windows of the slide from a fresh scan, narrowed to the regions of interest.
void scan_windows(Model& model, const Slide& slide, const ResumableOptions& o, const ResumableSlide& job,
                  ResumedPredictions& r, PartialPredictions& part) {
  Progress* pg = o.progress;
  const WindowOptions& wo = o.predict.windows;
  const ReadGeometry geo = read_geometry(slide, wo);
  if (pg) pg->phase(job.item, job.label, "tissue scan", candidate_grid(slide, geo, wo.overlap).size(), 0, false);
  const auto t0 = Clock::now();
  SlideWindows sw = select_windows(slide, wo, o.predict.select_threads, [&](int64_t n) {
    throw_if_stop_requested("during the tissue scan of " + job.label + "; nothing of it was saved yet");
    if (pg) pg->add(n);
  });
  r.stats.scan_seconds = since(t0);
  part.candidates = sw.candidates;
  part.windows = std::move(sw.windows);
  if (job.roi) {
    const size_t before = part.windows.size();
    part.windows = restrict_windows(part.windows, geo.level0_side(), *job.roi, job.roi_cover);
    r.outside_roi = (int64_t)(before - part.windows.size());
  }
  part.rows = 0;
  part.csv = prediction_csv_header(model.classes);
}

}  // namespace

ResumedPredictions predict_slide_resumable(Model& model, const Slide& slide, const ResumableOptions& o,
                                           const ResumableSlide& job) {
  ResumedPredictions r;
  PartialPredictions part;
  part.key = job.key;
  std::string why;
  if (!read_partial(job.partial_path, part.key, model.classes, part, why)) {
    if (!why.empty()) r.partial_note = fs::path(job.partial_path).filename().string() + " not used: " + why;
    scan_windows(model, slide, o, job, r, part);
  }
  const auto t0 = Clock::now();
  const ReadGeometry geo = read_geometry(slide, o.predict.windows);
  const int64_t total = (int64_t)part.windows.size();
  if (o.progress) o.progress->phase(job.item, job.label, "predict", total, part.rows);

  auto last_commit = Clock::now();
  const std::string saved = job.partial_path + " (rerun the same command to continue)";
  SlidePredictStats net;
  predict_windows_streaming(
      model, slide, geo, part.windows, part.rows, o.predict,
      [&](const std::vector<PatchPrediction>& batch, int64_t done) {
        append_prediction_rows(part.csv, model.classes, batch);
        part.rows = done;
        if (o.progress) o.progress->add((int64_t)batch.size());
        const bool stop = stop_signal() != 0;
        if (done < total && (stop || since(last_commit) >= o.commit_seconds)) {
          const auto c0 = Clock::now();
          write_partial(job.partial_path, part);
          r.stats.commit_seconds += since(c0);
          ++r.stats.commits;
          last_commit = Clock::now();
        }
        if (stop && done < total)  // a finished slide is written; the caller stops before the next
          throw_if_stop_requested(job.label + ": " + std::to_string(done) + " of " + std::to_string(total) +
                                  " windows committed to " + saved);
      },
      &net);
  r.stats.candidates = part.candidates;
  r.stats.windows = total;
  r.stats.resumed = net.resumed;
  r.stats.read_seconds = net.read_seconds;
  r.stats.net_seconds = net.net_seconds;
  r.stats.seconds = r.stats.scan_seconds + since(t0);
  r.csv = std::move(part.csv);
  return r;
}

void finish_prediction_csv(const std::string& csv_path, const std::string& key_path, const std::string& partial_path,
                           const ojson& key, const std::string& csv_text) {
  write_text_atomic(csv_path, csv_text);
  write_key_file(key_path, key, csv_text);
  std::error_code ec;
  fs::remove(partial_path, ec);
}

ojson annotation_key(const std::optional<std::string>& file, double cover) {
  if (!file) return "none";
  return {{"file", fs::path(*file).filename().string()}, {"fnv1a", hex64(fnv1a_file(*file))}, {"cover", cover}};
}

}  // namespace ds
