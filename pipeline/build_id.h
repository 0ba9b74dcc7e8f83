// Which deepslide produced a stage's results: the release version, the commit the build came
// from (git describe at configure time) and the SHA-256 of the executable itself, so a rebuilt
// binary counts as a different one even when the source tree says nothing changed; and the
// convolution algorithms it runs (engine/kernels/conv_winograd.h's conv_algo_key: --conv-algo,
// DEEPSLIDE_WINOGRAD and the tuning file's choices, which round differently). `deepslide run`
// records it in every stamp and reruns a stage that another binary, or other algorithms, completed.
#pragma once
#include <nlohmann/json.hpp>

#include "base/file_hash_cache.h"

namespace ds {

// {"version", "git", "binary_sha256", "conv_algorithms"} of the running executable.
nlohmann::ordered_json build_identity(FileHashCache& cache);

}  // namespace ds
