// One optimizer step of `deepslide train`, shared by the trainer and `deepslide bench --mode
// train` so the benchmark times exactly what training runs: forward in training mode on a tape,
// softmax cross-entropy, backward, (data-parallel: the gradients summed over the ranks, after
// backward or in buckets during it), optimizer update, gradients zeroed.
#pragma once
#include <functional>
#include <vector>

#include "engine/tensor.h"
#include "layers/resnet.h"
#include "train/optimizer.h"

namespace ds {

struct BnSync;
struct GradHook;

// What a data-parallel step adds (train/data_parallel.h); the defaults are one process.
struct StepSync {
  const BnSync* bn = nullptr;  // synchronized BatchNorm (--sync-bn), or per-rank statistics
  // This rank's readable samples over the whole batch's: the loss gradient is seeded with it, so
  // that the ranks' gradients summed are the gradient of the whole batch's mean loss.
  double loss_weight = 1;
  // Told by backward as it completes gradients (the bucketed sums of train/grad_buckets.h start
  // there); reduce_gradients, after backward and before the update, finishes the sums.
  GradHook* grad_hook = nullptr;
  std::function<void()> reduce_gradients;
};

struct StepResult {
  Tensor logits;   // [N, K], the training-mode forward's output (before the update)
  float loss = 0;  // mean softmax cross-entropy over the batch (this rank's share)
};

// x: [N, 3, P, P] normalized batch; labels: N class indices. Updates net's parameters (and BN
// running statistics) through opt and leaves every gradient zero. N may be 0 on a rank with
// no share of this batch (per-rank BatchNorm only): it then only joins the gradient sum.
StepResult train_step(ResNet& net, Optimizer& opt, const Tensor& x, const std::vector<int>& labels,
                      const StepSync& sync = {});

}  // namespace ds
