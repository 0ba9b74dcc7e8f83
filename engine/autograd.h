// Autograd: a tape of layer-level nodes. During a training forward pass each layer pushes one
// closure that knows how to turn its output gradient into input and parameter gradients (the
// tensors it needs were saved explicitly in forward). Tape::backward() replays them in reverse.
// Gradients accumulate (+=) into Var::grad and Param::grad until zeroed.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ds {

struct Int8Codes;  // engine/int8_codes.h

// An activation flowing through the network, with its gradient (allocated on first use).
struct Var {
  Tensor value;
  Tensor grad;
  // Inference at int8: this activation already quantized for the convolution that reads it next,
  // by the one that produced it (layers/conv_bn_eval.cpp). value is then undefined when nothing
  // else reads it.
  std::shared_ptr<const Int8Codes> int8_codes;
  // False for inputs nobody needs the gradient of (a training batch): layers then skip that
  // gradient (conv1 skips its backward-data pass). Intermediate results keep the default.
  bool needs_grad = true;
  explicit Var(Tensor v) : value(std::move(v)) {}
  Tensor& ensure_grad();  // zero-filled grad of value's shape, allocated once
  // The grad for a backward function to add into, or, when it does not exist yet (*fresh set),
  // allocated uninitialised: the caller then writes every element instead of adding (it is the
  // first contributor), which saves zero-filling it.
  Tensor& grad_to_write(bool* fresh);
};
using VarPtr = std::shared_ptr<Var>;
inline VarPtr make_var(Tensor t) { return std::make_shared<Var>(std::move(t)); }

// How a Param is laid out in memory against files (model files, checkpoints, PyTorch
// fixtures), which always hold PyTorch's layout. Convolution weights are held [KH, KW, C, OC]
// (the layout the convolution kernels compute with, so they are never repacked per call) and
// written and read as [OC, C, KH, KW]; see file_shape() / to_file_layout() in layers/module.h.
enum class ParamLayout { same, conv_hwio };

// A learnable tensor with a torchvision-style name ("layer1.0.conv1.weight").
struct Param {
  std::string name;
  Tensor value;
  Tensor grad;  // same shape as value, zero-initialised, accumulates
  ParamLayout layout = ParamLayout::same;
  Param() = default;
  Param(std::string n, const Shape& s, ParamLayout l = ParamLayout::same)
      : name(std::move(n)), value(s), grad(s), layout(l) {}
};

// A non-learnable state tensor saved with the model (BN running_mean / running_var).
struct Buffer {
  std::string name;
  Tensor value;
  Buffer() = default;
  Buffer(std::string n, const Shape& s) : name(std::move(n)), value(s) {}
};

// Told by Tape::backward, after every node it replays, which parameters' gradients that node
// completed: those it writes and no node still to run writes (complete even when the node found
// no gradient to pass on and wrote nothing: the gradient stays as it was). Called on backward's
// thread between two nodes, when no kernel runs.
struct GradHook {
  virtual ~GradHook() = default;
  virtual void after_node(const std::vector<Param*>& completed) = 0;
};

class Tape {
 public:
  using BackwardFn = std::function<void()>;
  // writes: the parameters whose gradients fn adds to (none for layers without parameters;
  // null entries, an absent bias, are left out).
  void push(BackwardFn fn, std::initializer_list<Param*> writes = {}) {
    Node n{std::move(fn), {}};
    for (Param* p : writes)
      if (p) n.writes.push_back(p);
    nodes_.push_back(std::move(n));
  }
  // Seeds d(loss) = seed (loss must be a scalar), replays every node in reverse, dropping each
  // node (and so what it saved) once it has run, then clears.
  // hook (optional) hears after each node which gradients are complete.
  void backward(const VarPtr& loss, float seed = 1.0f, GradHook* hook = nullptr);
  void clear() { nodes_.clear(); }
  size_t size() const { return nodes_.size(); }

 private:
  struct Node {
    BackwardFn fn;
    std::vector<Param*> writes;
  };
  std::vector<Node> nodes_;
};

// The arithmetic of an inference forward pass's convolutions. bf16: weights (BN folded) and
// activations rounded to bf16, products summed in fp32 (engine/kernels/conv_bf16.h); everything
// between convolutions, and the classifier, stays fp32. Training is always fp32. int8: weights
// (BN folded) per output channel and inputs per tensor in 8 bits, sums in int32
// (engine/kernels/conv_int8.h), for the convolutions with a calibrated input range
// (weights/calibrate.h); the others (a ResNet's conv1, whose input is signed) stay fp32.
enum class Precision { fp32, bf16, int8 };
inline const char* precision_name(Precision p) {
  return p == Precision::bf16 ? "bf16" : p == Precision::int8 ? "int8" : "fp32";
}

struct BnSync;  // engine/kernels/batchnorm.h

// What a forward pass needs to know: where to record (nullptr = no gradient, nothing saved),
// whether layers behave as in training (BatchNorm batch statistics) or evaluation, in
// evaluation without a tape the convolutions' precision, and in data-parallel training with
// synchronized BatchNorm the object that sums BN statistics over the processes.
struct Context {
  Tape* tape = nullptr;
  bool training = false;
  Precision precision = Precision::fp32;  // only inference (no tape, not training) reads it
  const BnSync* bn_sync = nullptr;        // only training reads it; must outlive the tape's backward
  // Inference at fp32 that also records each convolution's input range (Conv2d::calib_lo/hi):
  // weights/calibrate.h.
  bool calibrating = false;
  // Inference at int8: convolutions write the next one's input codes in their epilogue
  // (layers.h, conv_bn_eval). Off only to compare: the outputs are the same either way.
  bool int8_chains = true;
  bool recording() const { return tape != nullptr; }
};

}  // namespace ds
