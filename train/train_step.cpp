// The training step (see train_step.h).
#include "train/train_step.h"

#include "engine/autograd.h"
#include "layers/layers.h"

namespace ds {

StepResult train_step(ResNet& net, Optimizer& opt, const Tensor& x, const std::vector<int>& labels) {
  Tape tape;
  Context ctx{&tape, true};
  VarPtr logits = net.forward(ctx, make_var(x));
  VarPtr loss = softmax_cross_entropy(ctx, logits, labels);
  tape.backward(loss);
  opt.step();
  opt.zero_grad();
  StepResult r;
  r.logits = logits->value;
  r.loss = loss->value[0];
  return r;
}

}  // namespace ds
