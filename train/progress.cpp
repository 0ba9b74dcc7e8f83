// Formatting of training progress (see progress.h).
#include "train/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ds {

namespace {

// Seconds per batch so far in this process (0 before its first).
double seconds_per_batch(const StepProgress& p) {
  const int64_t done = p.batch - p.first_batch;
  return done > 0 && p.seconds > 0 ? p.seconds / (double)done : 0;
}

}  // namespace

double StepProgress::eta_seconds() const {
  return seconds_per_batch(*this) * (double)std::max<int64_t>(0, batches - batch);
}

double StepProgress::run_eta_seconds() const {
  const double per = seconds_per_batch(*this);
  const int64_t epochs_left = std::max<int64_t>(0, epochs - epoch);
  const double full =
      eta_seconds() + epoch_end_seconds + (double)epochs_left * ((double)batches * per + epoch_end_seconds);
  if (steps_left < 0) return full;
  // --max-steps stops the run right after its last step, with no validation: an epoch's end is run
  // only when a step is left after the epoch's last batch.
  const int64_t rest = std::max<int64_t>(0, batches - batch);  // this epoch's batches left
  const int64_t ends = steps_left <= rest || batches <= 0
                           ? 0
                           : std::min<int64_t>(epochs_left + 1, 1 + (steps_left - rest - 1) / batches);
  return std::min(full, (double)steps_left * per + (double)ends * epoch_end_seconds);
}

std::string format_progress(const StepProgress& p) {
  char buf[240];
  const double epoch_eta = p.eta_seconds(), run_eta = p.run_eta_seconds();
  // The run's ETA only where it says more than the epoch's (more epochs, or an end measured), or
  // less (--max-steps stops the run within this epoch).
  const bool differs = run_eta > epoch_eta + 0.5 || (p.steps_left >= 0 && run_eta < epoch_eta - 0.5);
  const std::string run = differs ? " (run " + format_duration(run_eta) + ")" : "";
  std::snprintf(buf, sizeof buf, "epoch %lld/%lld  batch %lld/%lld  %.1f img/s  loss %.4f  acc %.4f  eta %s%s",
                (long long)p.epoch, (long long)p.epochs, (long long)p.batch, (long long)p.batches,
                p.images_per_second(), p.loss, p.acc, format_duration(epoch_eta).c_str(), run.c_str());
  return buf;
}

}  // namespace ds
