// Which algorithm each convolution of a forward pass ran (set_conv_algo_log, layers/layers.h):
// conv_bn_eval (inference) and Conv2d's forward and backward passes (training) append to the
// log while one is set, so `deepslide bench` can report it in either mode.
#include <mutex>

#include "engine/kernels/conv.h"
#include "layers/layers.h"

namespace ds {

namespace {

std::mutex g_log_mutex;
std::vector<ConvAlgoUse>* g_log = nullptr;  // guarded by g_log_mutex

}  // namespace

void set_conv_algo_log(std::vector<ConvAlgoUse>* log) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_log = log;
}

void log_conv_algo(const Conv2d& conv, const ConvDims& d, const char* algo, const char* pass) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  if (!g_log) return;
  std::string layer = conv.weight.name;
  if (layer.size() > 7 && layer.compare(layer.size() - 7, 7, ".weight") == 0) layer.resize(layer.size() - 7);
  const double flops = 2.0 * (double)d.OH * (double)d.OW * (double)d.OC * (double)d.C * (double)d.KH * (double)d.KW;
  g_log->push_back({layer + pass, algo, flops});
}

}  // namespace ds
