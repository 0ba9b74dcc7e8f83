// Atomic file replacement: exclusive temporary file in the same folder, fsync, rename, folder fsync.
#include "base/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "base/error.h"

namespace ds {

namespace {

std::atomic<uint64_t> temp_counter{0};

// Makes the rename durable: the folder entry is on disk once its folder is synced.
void sync_folder(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // nothing to sync through; the rename itself has happened
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  for (int attempt = 0; fd_ < 0; ++attempt) {
    tmp_ = path_ + ".tmp." + std::to_string(getpid()) + "." + std::to_string(temp_counter.fetch_add(1));
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd_ < 0 && (errno != EEXIST || attempt >= 16))
      throw InputError(path_, std::string("cannot write: ") + std::strerror(errno));
  }
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  if (fd_ >= 0) ::close(fd_);
  ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError(path_, std::string("write failed: ") + std::strerror(errno));
    }
    p += n;
    size -= (size_t)n;
  }
}

void AtomicFile::commit(bool sync) {
  if ((sync && ::fsync(fd_) != 0) || ::close(fd_) != 0) {
    fd_ = -1;
    throw InputError(path_, std::string("write failed: ") + std::strerror(errno));
  }
  fd_ = -1;
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    throw InputError(path_, std::string("cannot rename into place: ") + std::strerror(errno));
  committed_ = true;
  if (sync) sync_folder(path_);
}

namespace {

// A process that has exited but whose parent has not reaped it yet still answers kill(pid, 0):
// its state in /proc/<pid>/stat (the field after the name in parentheses) is 'Z'.
bool is_zombie(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

bool process_gone(pid_t pid) {
  if (pid == getpid()) return false;
  if (::kill(pid, 0) != 0) return errno == ESRCH;  // EPERM: alive, another user's
  return is_zombie(pid);
}

}  // namespace

int remove_dead_temporaries(const std::string& dir, int depth, const std::string& only_of) {
  static const std::regex kTemp(R"(.+\.tmp\.(\d{1,9})\.\d{1,20})");
  int removed = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    std::error_code st;
    if (depth > 0 && it->is_directory(st) && !it->is_symlink(st)) {
      removed += remove_dead_temporaries(it->path().string(), depth - 1, only_of);
      continue;
    }
    std::smatch m;
    const std::string name = it->path().filename().string();
    if (!std::regex_match(name, m, kTemp) || !it->is_regular_file(st) || it->is_symlink(st)) continue;
    if (!only_of.empty() && name.compare(0, only_of.size() + 5, only_of + ".tmp.") != 0) continue;
    if (!process_gone((pid_t)std::stol(m[1]))) continue;  // alive, or not ours to judge
    std::error_code rm;
    if (std::filesystem::remove(it->path(), rm)) ++removed;
  }
  return removed;
}

void write_file_atomic(const std::string& path, const void* data, size_t size, bool sync) {
  AtomicFile f(path);
  f.write(data, size);
  f.commit(sync);
}

void write_text_atomic(const std::string& path, const std::string& text, bool sync) {
  write_file_atomic(path, text.data(), text.size(), sync);
}

}  // namespace ds
