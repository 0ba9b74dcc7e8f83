// Path fingerprints and stamp files for `deepslide run` (see stage_stamp.h).
#include "pipeline/stage_stamp.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/json_bounded.h"
#include "base/sha256.h"

namespace fs = std::filesystem;

namespace ds {

using json = nlohmann::ordered_json;

std::string fnv1a_hex(const std::string& s) {
  const uint64_t h = fnv1a(s.data(), s.size(), kFnvOffsetLegacy);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
  return buf;
}

json path_fingerprint(const std::string& path, FileHashCache& cache, const std::string& skip) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return json{{"missing", true}};
  if (fs::is_regular_file(st)) return json{{"size", (int64_t)fs::file_size(path, ec)}, {"sha256", cache.sha256(path)}};
  if (!fs::is_directory(st)) return json{{"special", true}};
  std::vector<std::string> lines;
  int64_t bytes = 0;
  // Links to folders are followed (a slide folder assembled from links), each folder once: a link
  // back up the tree would otherwise be walked without end.
  std::set<std::pair<dev_t, ino_t>> seen;
  const auto first_visit = [&](const fs::path& dir) {
    struct stat st {};
    return ::stat(dir.c_str(), &st) == 0 && seen.insert({st.st_dev, st.st_ino}).second;
  };
  first_visit(path);
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (it->is_directory(ec2) &&
        (!first_visit(it->path()) ||
         (!skip.empty() && fs::absolute(it->path(), ec2).lexically_normal() == fs::path(skip)))) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec2)) continue;
    const int64_t size = (int64_t)it->file_size(ec2);
    bytes += size;
    lines.push_back(fs::relative(it->path(), path, ec2).generic_string() + "\t" + std::to_string(size) + "\t" +
                    cache.sha256(it->path().string()));
  }
  if (ec) throw InputError(path, "cannot list folder: " + ec.message());
  std::sort(lines.begin(), lines.end());
  Sha256 h;
  for (const std::string& l : lines) {
    h.update(l.data(), l.size());
    h.update("\n", 1);
  }
  return json{{"files", (int64_t)lines.size()}, {"bytes", bytes}, {"sha256", h.hex()}};
}

json paths_fingerprint(const std::vector<std::string>& paths, FileHashCache& cache, const std::string& skip) {
  json j = json::object();
  std::set<std::string> seen;  // (thousands of slides: appended, not looked up one by one)
  for (const std::string& p : paths)
    if (seen.insert(p).second) append_member(j, p, path_fingerprint(p, cache, skip));
  return j;
}

std::optional<json> read_stamp(const std::string& path) {
  if (!fs::exists(path)) return std::nullopt;
  json j;
  try {
    j = read_json_file<json>(path);
  } catch (const InputError&) {
    return std::nullopt;  // unreadable or not ours: the stage counts as not done
  }
  // The shape the comparisons read (stale_reason): anything else, an edited or foreign file, counts
  // as no stamp rather than failing the run on a JSON type error.
  if (!j.is_object() || !j.contains("commands") || !j.contains("inputs") || !j.contains("outputs") ||
      !j["commands"].is_array() || !j["inputs"].is_object() || !j["outputs"].is_object())
    return std::nullopt;
  if (j.contains("build")) {
    if (!j["build"].is_object()) return std::nullopt;
    for (const auto& [key, v] : j["build"].items())
      if (!v.is_string()) return std::nullopt;
  }
  return j;
}

void write_stamp(const std::string& path, const json& stamp) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) throw InputError(fs::path(path).parent_path().string(), "cannot create folder: " + ec.message());
  const std::string s = stamp.dump(2) + "\n";
  write_file_atomic(path, s.data(), s.size());
}

}  // namespace ds
