// The regular-file check readers make before they open a path (see regular_file.h).
#include "base/regular_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace ds {

void require_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;  // (the caller's open says it is missing, in its own words)
    throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  }
  if (S_ISREG(st.st_mode)) return;
  throw InputError(path, S_ISDIR(st.st_mode)    ? "is a folder, not a file"
                         : S_ISFIFO(st.st_mode) ? "is a FIFO, not a regular file"
                                                : "is a device or socket, not a regular file");
}

void require_input_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) throw InputError(path, "no such file");
  require_regular_file(path);
}

void require_input_folder(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw InputError(
        path, errno == ENOENT ? std::string("no such folder") : "cannot open: " + std::string(std::strerror(errno)));
  if (!S_ISDIR(st.st_mode)) throw InputError(path, "not a folder");
}

}  // namespace ds
