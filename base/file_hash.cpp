// File hashing with pread in 1 MB blocks (no stream buffering in the way).
#include "base/file_hash.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/error.h"
#include "base/hash.h"

namespace ds {

namespace {

class ReadOnlyFd {
 public:
  // O_NONBLOCK so that opening a FIFO returns at once (it is then refused); it changes nothing
  // for a regular file.
  explicit ReadOnlyFd(const std::string& path)
      : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)) {
    if (fd_ < 0) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st;
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw InputError(path, "not a regular file (a FIFO or device)");
    }
  }
  ~ReadOnlyFd() { ::close(fd_); }
  uint64_t size() const {
    struct stat st;
    if (::fstat(fd_, &st) != 0) throw InputError(path_, std::string("cannot stat: ") + std::strerror(errno));
    return (uint64_t)st.st_size;
  }
  // Hashes bytes [offset, offset + n), continuing from h.
  uint64_t hash(uint64_t offset, uint64_t n, uint64_t h) const {
    std::vector<unsigned char> buf(1 << 20);
    while (n > 0) {
      const size_t want = (size_t)std::min<uint64_t>(n, buf.size());
      const ssize_t got = ::pread(fd_, buf.data(), want, (off_t)offset);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        throw InputError(path_, got < 0 ? std::string("cannot read: ") + std::strerror(errno)
                                        : std::string("file shrank while it was read"));
      h = fnv1a(buf.data(), (size_t)got, h);
      offset += (uint64_t)got;
      n -= (uint64_t)got;
    }
    return h;
  }

 private:
  std::string path_;
  int fd_;
};

}  // namespace

uint64_t fnv1a_file(const std::string& path) {
  ReadOnlyFd f(path);
  return f.hash(0, f.size(), kFnvOffset);
}

std::string self_exe_path() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw InternalError("cannot find the running executable (/proc/self/exe): " + ec.message());
  return exe.string();
}

uint64_t self_exe_fnv1a() {
  static const uint64_t h = fnv1a_file("/proc/self/exe");
  return h;
}

FileIdentity file_identity(const std::string& path, uint64_t span) {
  ReadOnlyFd f(path);
  FileIdentity id;
  id.bytes = f.size();
  const uint64_t n = std::min(id.bytes, span);
  id.head = f.hash(0, n, kFnvOffset);
  id.tail = f.hash(id.bytes - n, n, kFnvOffset);
  return id;
}

uint64_t bytes_on_disk(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    const uintmax_t n = fs::file_size(path, ec);
    return ec ? 0 : (uint64_t)n;
  }
  uint64_t total = 0;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec)) total += (uint64_t)it->file_size(ec);
  return total;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
  return buf;
}

}  // namespace ds
