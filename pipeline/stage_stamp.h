// Stage stamps of `deepslide run`: what a stage ran with and what it produced, so a rerun can
// tell a complete, up-to-date stage from one to redo. A stamp (WORKDIR/.stages/<stage>.json,
// written atomically when the stage completes) holds the stage's command lines, the identity of
// the deepslide binary (pipeline/build_id.h), a fingerprint of each input and output path, and
// the time it took. Files are fingerprinted by their size and the SHA-256 of their contents, so
// a file rewritten with its old size and mtime (`cp -p`, a clock set back) still counts as
// changed; folders by the count, total size and a SHA-256 over the relative path, size and
// content hash of every file below them. Hashes are remembered between runs
// (base/file_hash_cache.h): a rerun reads only the files whose size, mtime, ctime or inode
// changed, and costs a stat per file otherwise.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/file_hash_cache.h"

namespace ds {

// {"missing": true} | {"special": true} | {"size": S, "sha256": "<64 hex>"} |
// {"files": N, "bytes": B, "sha256": "<64 hex>"}. A folder's fingerprint leaves out the folder
// `skip` (absolute, lexically normal) when it lies below: a run's inputs leave out its own
// workdir, which it writes (a config key naming a folder that holds the workdir).
nlohmann::ordered_json path_fingerprint(const std::string& path, FileHashCache& cache, const std::string& skip = "");
// {path: path_fingerprint(path), ...} in the order given.
nlohmann::ordered_json paths_fingerprint(const std::vector<std::string>& paths, FileHashCache& cache,
                                         const std::string& skip = "");

// FNV-1a 64 of a string, as 16 hex digits.
std::string fnv1a_hex(const std::string& s);

// The stamp file, nullopt when it does not exist or is not a readable stamp (treated as absent).
std::optional<nlohmann::ordered_json> read_stamp(const std::string& path);
void write_stamp(const std::string& path, const nlohmann::ordered_json& stamp);  // atomic; creates the folder

}  // namespace ds
