// One writer per output folder: an exclusive lock (flock) on a file in it, held while the object
// lives and released by the kernel however the process ends (a crash or SIGKILL leaves no stale
// lock). Two commands writing into one folder at once would each trust the other's half-done
// files (a predict.json naming one model beside CSVs of another, a best.safetensors of the other
// training run); the second is refused instead, naming the folder.
#pragma once
#include <string>

namespace ds {

class FolderLock {
 public:
  // Locks `lock_file` (created if missing; never through a symbolic link). InputError naming
  // `folder` when another process holds it; `who` says what holds it ("deepslide predict").
  FolderLock(const std::string& lock_file, const std::string& folder, const std::string& who);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  // Lets the processes this one starts inherit the lock (not closed on exec): the folder then stays
  // locked until the last of them exits, also when this process is killed first.
  void keep_across_exec();

 private:
  int fd_ = -1;
};

// The lock of a command's output folder: OUT/.lock.
constexpr const char* kFolderLockName = ".lock";

}  // namespace ds
