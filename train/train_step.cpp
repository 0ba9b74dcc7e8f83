// The training step (see train_step.h).
#include "train/train_step.h"

#include "engine/autograd.h"
#include "layers/layers.h"

namespace ds {

StepResult train_step(ResNet& net, Optimizer& opt, const Tensor& x, const std::vector<int>& labels) {
  Tape tape;
  Context ctx{&tape, true};
  VarPtr input = make_var(x);
  input->needs_grad = false;  // nobody reads the image gradient: conv1 skips backward-data
  VarPtr logits = net.forward(ctx, input);
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
