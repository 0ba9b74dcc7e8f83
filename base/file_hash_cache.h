// Content hashes of files, remembered between runs so that a rerun reads only what changed: the
// inputs `deepslide run` fingerprints, and the slides predict and diagnose key their results by. An entry is keyed by
// the file's absolute path and trusted while its size, modification time, status-change time (ctime), inode and device
// are all unchanged: any write, `cp -p` (which restores mtime but not ctime) or replacement by rename changes one of
// them. A file changed within two seconds of being hashed is not remembered (a later write in the
// same clock tick would otherwise go unseen). The cache is a JSON file (WORKDIR/.stages/hashes.json,
// OUT/.slide-hashes.json), written atomically; an unreadable one is ignored (everything is hashed
// again).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace ds {

class FileHashCache {
 public:
  explicit FileHashCache(std::string path = "");  // "" keeps nothing between runs
  // SHA-256 of the regular file at `file` (hex); InputError naming it when it cannot be read.
  std::string sha256(const std::string& file);
  void save();  // when something changed; entries of files that no longer exist are dropped
  // The entries remembered since the last call (under mpirun a rank's, carried to rank 0 with
  // each slide's outcome), and their adoption by the cache that saves: only well-formed ones
  // (an identity and 64 hex digits) are taken.
  nlohmann::json take_added();
  void adopt(const nlohmann::json& added);
  // Saves when destroyed (if `enabled`), however the scope ends: a run stopped half-way keeps what
  // it hashed. A failure to save is ignored (it is only a cache: the next run hashes again).
  struct SaveOnExit {
    FileHashCache& cache;
    bool enabled = true;
    ~SaveOnExit();
  };

 private:
  std::string path_;
  nlohmann::json entries_ = nlohmann::json::object();
  nlohmann::json added_ = nlohmann::json::object();  // since the last take_added()
  bool dirty_ = false;
};

}  // namespace ds
