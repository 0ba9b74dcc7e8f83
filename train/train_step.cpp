// The training step (see train_step.h).
#include "train/train_step.h"

#include "engine/autograd.h"
#include "layers/layers.h"

namespace ds {

StepResult train_step(ResNet& net, Optimizer& opt, const Tensor& x, const std::vector<int>& labels,
                      const StepSync& sync) {
  StepResult r;
  if (!labels.empty()) {
    Tape tape;
    Context ctx{&tape, true};
    ctx.bn_sync = sync.bn;
    VarPtr input = make_var(x);
    input->needs_grad = false;  // nobody reads the image gradient: conv1 skips backward-data
    VarPtr logits = net.forward(ctx, input);
    VarPtr loss = softmax_cross_entropy(ctx, logits, labels);
    tape.backward(loss, (float)sync.loss_weight, sync.grad_hook);
    r.logits = logits->value;
    r.loss = loss->value[0];
  }
  if (sync.reduce_gradients) sync.reduce_gradients();
  opt.step();
  opt.zero_grad();
  return r;
}

}  // namespace ds
