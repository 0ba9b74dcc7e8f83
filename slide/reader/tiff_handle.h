// An open libtiff handle that never prints: errors and warnings are captured per handle so they
// can be turned into InputError messages, and single allocations are capped so a hostile file
// cannot make libtiff allocate gigabytes.
#pragma once
#include <tiffio.h>

#include <memory>
#include <string>

namespace ds {

class TiffHandle {
 public:
  explicit TiffHandle(const std::string& path);  // InputError when libtiff cannot open it
  ~TiffHandle();
  TiffHandle(const TiffHandle&) = delete;
  TiffHandle& operator=(const TiffHandle&) = delete;

  TIFF* get() const { return tif_; }
  const std::string& path() const { return path_; }
  // The last libtiff error message since clear_error(), or "" when none.
  std::string last_error() const { return *error_; }
  void clear_error() { error_->clear(); }
  // Selects a main-chain directory (index >= 0) or a SubIFD by offset; InputError on failure.
  void select(int main_index, uint64_t subifd_offset);
  // Call after moving through directories behind select()'s back (TIFFReadDirectory).
  void forget_position() { cur_main_ = -2; }

 private:
  std::string path_;
  std::unique_ptr<std::string> error_;  // stable address for the libtiff callback
  TIFF* tif_ = nullptr;
  int cur_main_ = -2;
  uint64_t cur_sub_ = 0;
};

}  // namespace ds
