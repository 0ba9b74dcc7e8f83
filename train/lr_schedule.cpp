// ExponentialLR in closed form.
#include "train/lr_schedule.h"

#include <cmath>
#include <string>

#include "base/error.h"

namespace ds {

ExponentialLR::ExponentialLR(Optimizer& opt, double gamma) : opt_(opt), base_lr_(opt.lr()), gamma_(gamma) {
  if (!(gamma > 0) || !std::isfinite(gamma))
    throw InputError("ExponentialLR: gamma must be finite and > 0, got " + std::to_string(gamma));
}

double ExponentialLR::lr_at(double base_lr, double gamma, int64_t epoch) {
  return base_lr * std::pow(gamma, (double)epoch);
}

void ExponentialLR::step() { set_epoch(epoch_ + 1); }

void ExponentialLR::set_epoch(int64_t epoch) {
  if (epoch < 0) throw InputError("ExponentialLR: negative epoch " + std::to_string(epoch));
  epoch_ = epoch;
  opt_.set_lr(lr());
}

}  // namespace ds
