// Byte-range reads of a slide file (slide_file.h).
#include "slide/reader/slide_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace ds {

namespace {

uint64_t size_of(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) throw InputError(path, std::string("cannot stat: ") + std::strerror(errno));
  return (uint64_t)st.st_size;
}

}  // namespace

SlideFile::SlideFile(const std::string& path) : path_(path), owned_(true) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  try {
    size_ = size_of(fd_, path);
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

SlideFile::SlideFile(int fd, const std::string& path) : path_(path), fd_(fd), size_(size_of(fd, path)) {}

SlideFile::~SlideFile() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

bool SlideFile::try_read(void* dst, uint64_t n, uint64_t off) const {
  if (!contains(off, n)) return false;
  auto* p = static_cast<uint8_t*>(dst);
  while (n > 0) {
    const ssize_t r = ::pread(fd_, p, n, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    off += (uint64_t)r;
    n -= (uint64_t)r;
  }
  return true;
}

void SlideFile::read(void* dst, uint64_t n, uint64_t off, const std::string& what) const {
  if (!contains(off, n)) throw InputError(path_, what + " lies past the end of the file (truncated file?)");
  if (!try_read(dst, n, off)) throw InputError(path_, what + ": read failed (truncated file?)");
}

}  // namespace ds
