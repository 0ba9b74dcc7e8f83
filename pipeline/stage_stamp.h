// Stage stamps of `deepslide run`: what a stage ran with and what it produced, so a rerun can
// tell a complete, up-to-date stage from one to redo. A stamp (WORKDIR/.stages/<stage>.json,
// written atomically when the stage completes) holds the stage's command lines, a fingerprint
// of each input and output path, and the time it took. Files are fingerprinted by size and
// modification time (nanoseconds); folders by the count, total size and a hash of the relative
// path, size and mtime of every file below them. Nothing is read, so slides of any size cost
// one stat each.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ds {

// {"missing": true} | {"size": S, "mtime_ns": T} | {"files": N, "bytes": B, "hash": "<16 hex>"}
nlohmann::ordered_json path_fingerprint(const std::string& path);
// {path: path_fingerprint(path), ...} in the order given.
nlohmann::ordered_json paths_fingerprint(const std::vector<std::string>& paths);

// FNV-1a 64 of a string, as 16 hex digits.
std::string fnv1a_hex(const std::string& s);

// The stamp file, nullopt when it does not exist or is not a readable stamp (treated as absent).
std::optional<nlohmann::ordered_json> read_stamp(const std::string& path);
void write_stamp(const std::string& path, const nlohmann::ordered_json& stamp);  // atomic; creates the folder

}  // namespace ds
