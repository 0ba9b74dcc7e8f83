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

}  // namespace ds
