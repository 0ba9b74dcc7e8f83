// Which deepslide produced a stage's results: the release version, the commit the build came
// from (git describe at configure time) and the SHA-256 of the executable itself, so a rebuilt
// binary counts as a different one even when the source tree says nothing changed. `deepslide
// run` records it in every stamp and reruns a stage that another binary completed.
#pragma once
#include <nlohmann/json.hpp>

#include "pipeline/file_hash_cache.h"

namespace ds {

// {"version": "...", "git": "...", "binary_sha256": "..."} of the running executable.
nlohmann::ordered_json build_identity(FileHashCache& cache);

}  // namespace ds
