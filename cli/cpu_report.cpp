// JSON records of the CPU, its caches and the convolution blocking in use, shared by `deepslide
// tune --show` and `deepslide bench`'s output line.
#include "cli/cpu_report.h"

#include "engine/cpu_caches.h"
#include "engine/kernels/conv_tuning.h"

namespace ds::cli {

nlohmann::ordered_json blocking_json(const ConvBlocking& b) {
  return {{"chunk_k", b.chunk_k},
          {"group_bytes", b.group_bytes},
          {"super_weight_bytes", b.super_weight_bytes},
          {"wgrad_super_bytes", b.wgrad_super_bytes},
          {"wgrad_chunk_bytes", b.wgrad_chunk_bytes},
          {"wgrad_part_bytes", b.wgrad_part_bytes},
          {"wgrad_vectors", b.wgrad_vectors}};
}

nlohmann::ordered_json caches_json() {
  const CpuCaches& c = cpu_caches();
  const CpuIdentity& id = cpu_identity();
  return {{"brand", id.brand},      {"vendor", id.vendor}, {"family", id.family}, {"model", id.model},
          {"l1d", c.l1d},           {"l2", c.l2},          {"l3", c.l3},          {"l3_per_core", c.l3_per_core},
          {"caches_from", c.source}};
}

nlohmann::ordered_json tuning_json() {
  const ConvTuningState& s = conv_tuning_state();
  nlohmann::ordered_json j = {{"tuning", conv_blocking_source()}, {"file", s.path}, {"classes", s.table.size()}};
  if (!s.warning.empty()) j["warning"] = s.warning;
  return j;
}

}  // namespace ds::cli
