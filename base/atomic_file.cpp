// Atomic file replacement: temporary file in the same folder, fsync, rename.
#include "base/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/error.h"

namespace ds {

void write_file_atomic(const std::string& path, const void* data, size_t size, bool sync) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw InputError(path, std::string("cannot write: ") + std::strerror(errno));
  const char* p = static_cast<const char*>(data);
  size_t left = size;
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw InputError(path, std::string("write failed: ") + std::strerror(e));
    }
    p += n;
    left -= (size_t)n;
  }
  if ((sync && ::fsync(fd) != 0) || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw InputError(path, std::string("write failed: ") + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw InputError(path, std::string("cannot rename into place: ") + std::strerror(e));
  }
}

void write_text_atomic(const std::string& path, const std::string& text, bool sync) {
  write_file_atomic(path, text.data(), text.size(), sync);
}

}  // namespace ds
