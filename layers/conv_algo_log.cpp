// Which algorithm each convolution of a forward pass ran (set_conv_algo_log, layers/layers.h):
// conv_bn_eval (inference) and Conv2d's forward and backward passes (training) append to the
// log while one is set, so `deepslide bench` can report it in either mode, with each pass's time
// (`deepslide bench --layers`).
#include <atomic>
#include <chrono>
#include <mutex>

#include "engine/kernels/conv.h"
#include "layers/layers.h"

namespace ds {

namespace {

std::mutex g_log_mutex;
std::vector<ConvAlgoUse>* g_log = nullptr;  // guarded by g_log_mutex
std::atomic<bool> g_logging{false};         // g_log set: read without the lock by conv_log_now

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

void set_conv_algo_log(std::vector<ConvAlgoUse>* log) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_log = log;
  g_logging.store(log != nullptr, std::memory_order_relaxed);
}

double conv_log_now() { return g_logging.load(std::memory_order_relaxed) ? seconds_now() : 0.0; }

void log_conv_algo(const Conv2d& conv, const ConvDims& d, const char* algo, double started, const char* pass) {
  const double ended = started > 0 ? seconds_now() : 0.0;
  std::lock_guard<std::mutex> lock(g_log_mutex);
  if (!g_log) return;
  std::string layer = conv.weight.name;
  if (layer.size() > 7 && layer.compare(layer.size() - 7, 7, ".weight") == 0) layer.resize(layer.size() - 7);
  ConvAlgoUse u{layer + pass, algo};
  u.c = d.C, u.oc = d.OC, u.k = d.KH, u.stride = d.stride_h, u.out_h = d.OH, u.out_w = d.OW;
  u.ms = started > 0 ? 1000.0 * (ended - started) : 0.0;
  g_log->push_back(u);
}

}  // namespace ds
