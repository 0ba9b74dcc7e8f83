// The running binary's identity for the stage stamps (see build_id.h).
#include "pipeline/build_id.h"

#include <filesystem>

#include "base/file_hash.h"
#include "base/sha256.h"
#include "engine/kernels/conv_winograd.h"

#ifndef DEEPSLIDE_GIT
#define DEEPSLIDE_GIT "unknown"
#endif

namespace ds {

nlohmann::ordered_json build_identity(FileHashCache& cache) {
  // The file /proc/self/exe points at, so the cache can key it by its path.
  const std::filesystem::path exe = self_exe_path();
  std::error_code ec;
  nlohmann::ordered_json j;
  j["version"] = DEEPSLIDE_VERSION;
  j["git"] = DEEPSLIDE_GIT;
  // A binary replaced while it runs reads "<path> (deleted)": hash the running one directly.
  j["binary_sha256"] =
      std::filesystem::is_regular_file(exe, ec) ? cache.sha256(exe.string()) : sha256_file_hex("/proc/self/exe");
  j["conv_algorithms"] = conv_algo_key();
  return j;
}

}  // namespace ds
