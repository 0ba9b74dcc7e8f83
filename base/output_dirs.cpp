// Output sub-folders created without following links (see output_dirs.h).
#include "base/output_dirs.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <sys/stat.h>

#include "base/error.h"

namespace fs = std::filesystem;

namespace ds {

void make_output_dirs(const std::string& out, const std::string& rel) {
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw InputError(out, "cannot create folder: " + ec.message());
  fs::path p = out;
  for (const fs::path& part : fs::path(rel)) {
    if (part.empty() || part == ".") continue;
    DS_CHECK(part != "..", "make_output_dirs: '..' in an output path");
    p /= part;
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) {
      if (errno != ENOENT) throw InputError(p.string(), std::string("cannot inspect: ") + std::strerror(errno));
      if (mkdir(p.c_str(), 0777) != 0 && errno != EEXIST)
        throw InputError(p.string(), std::string("cannot create folder: ") + std::strerror(errno));
      if (lstat(p.c_str(), &st) != 0)
        throw InputError(p.string(), std::string("cannot inspect: ") + std::strerror(errno));
    }
    if (S_ISLNK(st.st_mode))
      throw InputError(p.string(), "is a symbolic link; outputs are not written through links (remove it)");
    if (!S_ISDIR(st.st_mode)) throw InputError(p.string(), "exists and is not a folder");
  }
}

}  // namespace ds
