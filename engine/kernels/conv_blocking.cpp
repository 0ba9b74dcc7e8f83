// The convolution blocking: derived from the caches, overridden by the environment or a test,
// or tuned per shape class (see conv_blocking.h).
#include "engine/kernels/conv_blocking.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <sstream>

#include "base/error.h"
#include "engine/kernels/conv_tuning.h"

namespace ds {

const char* conv_pass_name(ConvPass pass) {
  switch (pass) {
    case ConvPass::forward: return "fwd";
    case ConvPass::backward_data: return "bwd_data";
    case ConvPass::backward_weights: return "bwd_weights";
  }
  return "?";
}

ConvBlocking derive_conv_blocking(const CpuCaches& caches, const CpuIdentity& id, Isa isa) {
  const int64_t l2 = std::max<int64_t>(caches.l2, 64 << 10);
  ConvBlocking b;
  b.chunk_k = std::max<int64_t>(64, l2 * 9 / 32 / 256 / 16 * 16);
  b.group_bytes = l2 * 3 / 16;
  b.super_weight_bytes = l2 * 5 / 8;
  b.wgrad_super_bytes = l2 * 3 / 4;
  b.wgrad_chunk_bytes = l2 / 2;
  b.wgrad_part_bytes = l2 * 3 / 4;
  b.wgrad_vectors = id.vendor == "GenuineIntel" && isa == Isa::avx512 ? 4 : 0;
  return b;
}

ConvBlocking derived_conv_blocking() { return derive_conv_blocking(cpu_caches(), cpu_identity(), cpu_isa()); }

std::string conv_shape_class(const ConvDims& d, ConvPass pass) {
  std::ostringstream s;
  s << conv_pass_name(pass) << "/k" << d.KH << "x" << d.KW << "/s" << d.stride_h << "/c" << d.C << "/oc" << d.OC;
  return s.str();
}

namespace {

// A piece of the setting as an error message quotes it: at most 60 characters, so a huge value
// still gives a one-line error.
std::string shown(const std::string& s) { return s.size() <= 60 ? s : s.substr(0, 60) + "..."; }

}  // namespace

ConvBlocking parse_conv_blocking(const std::string& spec, const ConvBlocking& base, const std::string& where) {
  // Presets: "tiny" makes every chunk, group, superblock and tile as small as the code allows
  // (one tile per item, reduction rows split, one output row per pixel chunk, never two parts,
  // 1-vector weight-gradient tiles); "huge" the opposite (one chunk, one superblock, always two
  // parts, 4-vector tiles).
  if (spec == "tiny") return ConvBlocking{16, 1, 1, 1, 1, 0, 1};
  if (spec == "huge") {
    const int64_t g = int64_t(1) << 40;
    return ConvBlocking{g, g, g, g, g, g, 4};
  }
  ConvBlocking b = base;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    char* end = nullptr;
    const std::string val = eq == std::string::npos ? "" : item.substr(eq + 1);
    const long long v = std::strtoll(val.c_str(), &end, 10);
    if (val.empty() || *end || v < 0 || v > (1ll << 40))
      throw InputError(where, "'" + shown(item) + "' is not key=value with a value in 0..2^40");
    if (key == "wgrad_vectors" && v > 4) throw InputError(where, "'" + shown(item) + "': wgrad_vectors is 0..4");
    if (key == "chunk_k") b.chunk_k = std::max<int64_t>(1, v);
    else if (key == "group_bytes") b.group_bytes = v;
    else if (key == "super_weight_bytes") b.super_weight_bytes = v;
    else if (key == "wgrad_super_bytes") b.wgrad_super_bytes = v;
    else if (key == "wgrad_chunk_bytes") b.wgrad_chunk_bytes = v;
    else if (key == "wgrad_part_bytes") b.wgrad_part_bytes = v;
    else if (key == "wgrad_vectors") b.wgrad_vectors = v;
    else throw InputError(where, "unknown blocking parameter '" + shown(key) + "'");
  }
  return b;
}

namespace {

std::mutex g_override_mu;
std::atomic<bool> g_has_override{false};
ConvBlocking g_override;

const ConvBlocking& derived() {
  static const ConvBlocking b = derived_conv_blocking();
  return b;
}

// DEEPSLIDE_CONV_BLOCKING, parsed once (null when unset).
const ConvBlocking* env_blocking() {
  static const ConvBlocking* b = []() -> const ConvBlocking* {
    const char* e = std::getenv("DEEPSLIDE_CONV_BLOCKING");
    if (!e || !*e) return nullptr;
    return new ConvBlocking(parse_conv_blocking(e, derived(), "DEEPSLIDE_CONV_BLOCKING"));
  }();
  return b;
}

}  // namespace

void set_conv_blocking_override(const ConvBlocking* b) {
  std::lock_guard<std::mutex> lock(g_override_mu);
  if (b) g_override = *b;
  g_has_override.store(b != nullptr);
}

ConvBlocking conv_blocking(const ConvDims& d, ConvPass pass) {
  if (g_has_override.load()) {
    std::lock_guard<std::mutex> lock(g_override_mu);
    return g_override;
  }
  if (const ConvBlocking* e = env_blocking()) return *e;
  if (!conv_tuning_state().table.empty())  // the class's name is built only when there is a file
    if (const ConvBlocking* t = tuned_conv_blocking(conv_shape_class(d, pass))) return *t;
  return derived();
}

std::string conv_blocking_source() {
  if (env_blocking()) return "env";
  return conv_tuning_state().status;
}

}  // namespace ds
