// Content hashes remembered by file identity (see file_hash_cache.h).
#include "base/file_hash_cache.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/json_bounded.h"
#include "base/sha256.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

int64_t ns(const struct timespec& t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

// What must be unchanged for a remembered hash to hold.
nlohmann::json identity(const struct stat& st) {
  return {(int64_t)st.st_size, ns(st.st_mtim), ns(st.st_ctim), (uint64_t)st.st_ino, (uint64_t)st.st_dev};
}

// A remembered hash as sha256() returns one: 64 lower-case hex digits (anything else in the file,
// which anyone may have edited, is not trusted: the file is hashed again).
bool is_sha256_hex(const nlohmann::json& v) {
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

FileHashCache::FileHashCache(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  if (path_.empty() || !fs::exists(path_, ec)) return;
  try {
    nlohmann::json j = read_json_file<nlohmann::json>(path_);
    if (j.is_object()) entries_ = std::move(j);
  } catch (const InputError&) {
    // Unreadable: start empty, every file is hashed again.
  }
}

std::string FileHashCache::sha256(const std::string& file) {
  const std::string key = fs::absolute(file).lexically_normal().string();
  struct stat before {};
  if (::stat(file.c_str(), &before) != 0) throw InputError(file, std::string("cannot stat: ") + std::strerror(errno));
  const nlohmann::json id = identity(before);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->is_object() && (*it)["id"] == id && is_sha256_hex((*it)["sha256"]))
    return (*it)["sha256"].get<std::string>();
  const std::string hex = sha256_file_hex(file);
  struct stat after {};
  const bool same = ::stat(file.c_str(), &after) == 0 && identity(after) == id;
  timespec wall{};
  clock_gettime(CLOCK_REALTIME, &wall);  // (time() in whole seconds made the margin up to 3 s)
  const int64_t now = ns(wall);
  const bool settled = now - ns(before.st_mtim) > 2000000000LL && now - ns(before.st_ctim) > 2000000000LL;
  if (same && settled) {
    entries_[key] = {{"id", id}, {"sha256", hex}};
    added_[key] = entries_[key];
    dirty_ = true;
  } else if (it != entries_.end()) {
    entries_.erase(it);
    dirty_ = true;
  }
  return hex;
}

nlohmann::json FileHashCache::take_added() {
  nlohmann::json out = nlohmann::json::object();
  std::swap(out, added_);
  return out;
}

void FileHashCache::adopt(const nlohmann::json& added) {
  if (!added.is_object()) return;
  for (const auto& [key, e] : added.items()) {
    if (!e.is_object() || !e.contains("id") || !e["id"].is_array() ||
        !is_sha256_hex(e.value("sha256", nlohmann::json())))
      continue;
    if (entries_.contains(key) && entries_[key] == e) continue;
    entries_[key] = e;
    dirty_ = true;
  }
}

FileHashCache::SaveOnExit::~SaveOnExit() {
  if (!enabled) return;
  try {
    cache.save();
  } catch (const std::exception&) {
  }
}

void FileHashCache::save() {
  if (path_.empty() || !dirty_) return;
  std::error_code ec;
  for (auto it = entries_.begin(); it != entries_.end();)
    it = fs::exists(it.key(), ec) ? std::next(it) : entries_.erase(it);
  write_text_atomic(path_, entries_.dump() + "\n");
  dirty_ = false;
}

}  // namespace ds
