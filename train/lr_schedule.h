// Learning-rate schedules stepped once per epoch. ExponentialLR is DeepSlide's schedule
// (torch.optim.lr_scheduler.ExponentialLR, gamma 0.85): lr = base_lr * gamma^epoch, computed in
// closed form so a resumed run gets exactly the lr it would have had.
#pragma once
#include <cstdint>

#include "train/optimizer.h"

namespace ds {

class ExponentialLR {
 public:
  // Takes the optimizer's current lr as base_lr and sets epoch 0 (lr unchanged).
  ExponentialLR(Optimizer& opt, double gamma);
  static double lr_at(double base_lr, double gamma, int64_t epoch);

  void step();                    // epoch += 1 and sets the optimizer's lr
  void set_epoch(int64_t epoch);  // for resume: sets the epoch and the optimizer's lr
  int64_t epoch() const { return epoch_; }
  double base_lr() const { return base_lr_; }
  double gamma() const { return gamma_; }
  double lr() const { return lr_at(base_lr_, gamma_, epoch_); }

 private:
  Optimizer& opt_;
  double base_lr_, gamma_;
  int64_t epoch_ = 0;
};

}  // namespace ds
