// Optimizers with PyTorch 1.13 semantics (torch.optim.Adam and torch.optim.SGD, single-tensor
// path), stepping the Params of a ParamSet in place from their accumulated gradients.
// Their whole state (step count, lr, per-parameter moment tensors) is exposed as named tensors
// so a checkpoint writer can save it and load_state() can restore it exactly.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "layers/module.h"

namespace ds {

// A snapshot of an optimizer. Tensor names are "<slot>/<param name>", e.g.
// "exp_avg/layer1.0.conv1.weight" (Adam: exp_avg, exp_avg_sq; SGD: momentum_buffer).
struct OptimizerState {
  std::string kind;  // "adam" | "sgd"
  int64_t step = 0;  // optimizer steps taken so far
  double lr = 0;
  std::vector<std::string> names;
  std::vector<Tensor> tensors;  // same order as names
};

class Optimizer {
 public:
  explicit Optimizer(const ParamSet& ps, double lr);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter from its current gradient (gradients are not zeroed).
  virtual void step() = 0;
  void zero_grad();  // sets every parameter's gradient to 0

  double lr() const { return lr_; }
  void set_lr(double lr);
  int64_t step_count() const { return step_; }
  const std::vector<Param*>& params() const { return params_; }

  // Deep copy of the state, its tensors in the parameters' file layout (PyTorch's, as
  // checkpoints hold them); load_state() checks kind, names and shapes (InputError naming the
  // first mismatch) and copies the tensors in.
  OptimizerState state() const;
  void load_state(const OptimizerState& st);

 protected:
  virtual std::string kind() const = 0;
  // One state tensor: its name, the tensor (sharing storage with the optimizer's own; Tensor
  // copies are views) and the parameter whose shape and layout it has.
  struct Slot {
    std::string name;
    Tensor t;
    const Param* param;
  };
  // The state tensors, in a fixed order (slot-major, then parameter order).
  virtual std::vector<Slot> slots() const = 0;

  std::vector<Param*> params_;
  double lr_;
  int64_t step_ = 0;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // L2: weight_decay * param is added to the gradient (not AdamW)
};

// torch.optim.Adam (amsgrad=False, maximize=False). Per step t (1-based):
//   g = grad + wd * p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
class Adam : public Optimizer {
 public:
  Adam(const ParamSet& ps, const AdamOptions& opt);
  void step() override;
  const AdamOptions& options() const { return opt_; }  // as constructed; lr() is current
  const std::vector<Tensor>& exp_avg() const { return exp_avg_; }
  const std::vector<Tensor>& exp_avg_sq() const { return exp_avg_sq_; }

 protected:
  std::string kind() const override { return "adam"; }
  std::vector<Slot> slots() const override;

 private:
  AdamOptions opt_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;  // per parameter, zero-initialised
};

struct SgdOptions {
  double lr = 1e-2;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

// torch.optim.SGD (maximize=False). g = grad + wd * p; with momentum the buffer is g on the first
// step and momentum*buf + (1-dampening)*g afterwards; the update uses buf, or g + momentum*buf
// when nesterov; p -= lr * update.
class Sgd : public Optimizer {
 public:
  Sgd(const ParamSet& ps, const SgdOptions& opt);
  void step() override;
  const SgdOptions& options() const { return opt_; }  // as constructed; lr() is current
  const std::vector<Tensor>& momentum_buffer() const { return momentum_buffer_; }

 protected:
  std::string kind() const override { return "sgd"; }
  std::vector<Slot> slots() const override;

 private:
  SgdOptions opt_;
  std::vector<Tensor> momentum_buffer_;  // per parameter when momentum != 0
};

}  // namespace ds
