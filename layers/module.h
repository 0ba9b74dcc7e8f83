// What every layer shares: the list of its parameters and buffers (for optimizers, model files
// and gradient zeroing). Names follow torchvision's state_dict keys.
#pragma once
#include <string>
#include <vector>

#include "engine/autograd.h"

namespace ds {

struct ParamSet {
  std::vector<Param*> params;    // learnable, in torchvision's state_dict order
  std::vector<Buffer*> buffers;  // running statistics
};

// "layer1.0." + "conv1" -> "layer1.0.conv1"; an empty prefix gives the name itself.
inline std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

void zero_grads(const ParamSet& ps);

// A Param's tensors as files hold them (PyTorch's layout; see ParamLayout): file_shape() is the
// shape there, to_file_layout() returns a copy of t (p.value, p.grad or an optimizer slot of
// p's shape) in that layout and from_file_layout() fills dst (of p's shape) from src
// (file_shape(p).numel() floats).
Shape file_shape(const Param& p);
Tensor to_file_layout(const Param& p, const Tensor& t);
void from_file_layout(const Param& p, const float* src, Tensor& dst);

}  // namespace ds
