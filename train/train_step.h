// One optimizer step of `deepslide train`, shared by the trainer and `deepslide bench --mode
// train` so the benchmark times exactly what training runs: forward in training mode on a tape,
// softmax cross-entropy, backward, optimizer update, gradients zeroed.
#pragma once
#include <vector>

#include "engine/tensor.h"
#include "layers/resnet.h"
#include "train/optimizer.h"

namespace ds {

struct StepResult {
  Tensor logits;   // [N, K], the training-mode forward's output (before the update)
  float loss = 0;  // mean softmax cross-entropy over the batch
};

// x: [N, 3, P, P] normalized batch; labels: N class indices. Updates net's parameters (and BN
// running statistics) through opt and leaves every gradient zero.
StepResult train_step(ResNet& net, Optimizer& opt, const Tensor& x, const std::vector<int>& labels);

}  // namespace ds
