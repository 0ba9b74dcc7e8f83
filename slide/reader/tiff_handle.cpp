// libtiff handle with captured diagnostics (see tiff_handle.h).
#include "slide/reader/tiff_handle.h"

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <fstream>

#include "base/error.h"

namespace ds {

namespace {

constexpr tmsize_t kMaxSingleAlloc = (tmsize_t)512 << 20;

int capture_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  auto* s = static_cast<std::string*>(user);
  if (s->empty()) *s = buf;
  return 1;
}

int ignore_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

// libtiff cannot open a file whose header is a TIFF's: the usual cause is a copy cut short
// before the first directory. Says so (with the offsets) when that is the case, else "".
std::string cut_short_reason(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint8_t b[16] = {};
  if (!in.read(reinterpret_cast<char*>(b), sizeof b) && in.gcount() < 8) return "";
  const bool le = b[0] == 'I' && b[1] == 'I', be = b[0] == 'M' && b[1] == 'M';
  if (!le && !be) return "";
  auto get = [&](int at, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | b[le ? at + n - 1 - i : at + i];
    return v;
  };
  const uint64_t version = get(2, 2);
  if (version != 42 && version != 43) return "";
  const uint64_t first = version == 42 ? get(4, 4) : get(8, 8);
  in.clear();
  in.seekg(0, std::ios::end);
  const uint64_t size = (uint64_t)in.tellg();
  if (first < size) return "";
  return "its first directory is at byte " + std::to_string(first) + ", past the end of the file (" +
         std::to_string(size) + " bytes): the file is cut short";
}

}  // namespace

TiffHandle::TiffHandle(const std::string& path) : path_(path), error_(std::make_unique<std::string>()) {
  TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
  TIFFOpenOptionsSetMaxSingleMemAlloc(opts, kMaxSingleAlloc);
  TIFFOpenOptionsSetErrorHandlerExtR(opts, capture_error, error_.get());
  TIFFOpenOptionsSetWarningHandlerExtR(opts, ignore_warning, nullptr);
  // "D": tile offset arrays are loaded only when asked for, after tiff_dir.cpp has checked them.
  // "c": no strip chopping. libtiff would otherwise present one large uncompressed strip as many
  // virtual ones, which tiff_dir.cpp's check (the offsets must be stored in full) refuses.
  tif_ = TIFFOpenExt(path.c_str(), "rmDc", opts);
  TIFFOpenOptionsFree(opts);
  if (!tif_) {
    std::string why = cut_short_reason(path);
    if (why.empty()) why = error_->empty() ? "not a readable TIFF file" : "not a TIFF file (" + *error_ + ")";
    throw InputError(path, why);
  }
  cur_main_ = 0;
}

TiffHandle::~TiffHandle() {
  if (tif_) TIFFClose(tif_);
}

void TiffHandle::select(int main_index, uint64_t subifd_offset) {
  if (main_index >= 0) {
    if (cur_main_ == main_index) return;
    clear_error();
    if (!TIFFSetDirectory(tif_, (tdir_t)main_index))
      throw InputError(path_, "cannot read TIFF directory " + std::to_string(main_index) +
                                  (error_->empty() ? "" : " (" + *error_ + ")"));
    cur_main_ = main_index;
  } else {
    if (cur_main_ == -1 && cur_sub_ == subifd_offset) return;
    clear_error();
    if (!TIFFSetSubDirectory(tif_, subifd_offset))
      throw InputError(path_, "cannot read TIFF SubIFD at offset " + std::to_string(subifd_offset) +
                                  (error_->empty() ? "" : " (" + *error_ + ")"));
    cur_main_ = -1;
    cur_sub_ = subifd_offset;
  }
}

}  // namespace ds
