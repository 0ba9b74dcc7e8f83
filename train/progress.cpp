// Formatting of training progress (see progress.h).
#include "train/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ds {

double StepProgress::eta_seconds() const {
  if (batch <= 0 || seconds <= 0) return 0;
  return seconds / (double)batch * (double)(batches - batch);
}

std::string format_progress(const StepProgress& p) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "epoch %lld/%lld  batch %lld/%lld  %.1f img/s  loss %.4f  acc %.4f  eta %s",
                (long long)p.epoch, (long long)p.epochs, (long long)p.batch, (long long)p.batches,
                p.images_per_second(), p.loss, p.acc, format_duration(p.eta_seconds()).c_str());
  return buf;
}

}  // namespace ds
