// A slide file read by byte range: pread at an offset, checked against the file's size first, so
// an offset or count taken from the file can never read past its end or allocate for it. Shared
// by the TIFF, Aperio and NDPI readers; pread needs no lock, so tiles are read from any thread.
#pragma once
#include <cstdint>
#include <string>

namespace ds {

class SlideFile {
 public:
  // Opens `path` read-only; InputError naming it when it cannot be opened.
  explicit SlideFile(const std::string& path);
  // Reads through `fd`, which the caller owns (libtiff's descriptor), under the name `path`.
  SlideFile(int fd, const std::string& path);
  ~SlideFile();
  SlideFile(const SlideFile&) = delete;
  SlideFile& operator=(const SlideFile&) = delete;

  int fd() const { return fd_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // True when [off, off + n) lies inside the file and was read whole.
  bool contains(uint64_t off, uint64_t n) const { return off <= size_ && n <= size_ - off; }
  bool try_read(void* dst, uint64_t n, uint64_t off) const;
  // InputError naming the file and `what` when the range lies past the end or cannot be read.
  void read(void* dst, uint64_t n, uint64_t off, const std::string& what) const;

 private:
  std::string path_;
  int fd_ = -1;
  bool owned_ = false;
  uint64_t size_ = 0;
};

}  // namespace ds
