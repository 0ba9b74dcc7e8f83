// The output folder's lock (see folder_lock.h).
#include "base/folder_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace ds {

FolderLock::FolderLock(const std::string& lock_file, const std::string& folder, const std::string& who) {
  // Read-only: flock needs no write access, and another user who may write into the folder can
  // then lock it too (0666 less the umask; the folder's own permissions decide who writes there).
  // Non-blocking: a FIFO planted under the name would otherwise wait for a writer for ever.
  fd_ = ::open(lock_file.c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0666);
  if (fd_ < 0) throw InputError(lock_file, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw InputError(lock_file, "not a regular file (remove it: it is only the folder's lock)");
  }
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw InputError(folder, "another " + who + " is writing into this folder (" + lock_file + " is locked)");
  }
}

void FolderLock::keep_across_exec() {
  if (fd_ >= 0) ::fcntl(fd_, F_SETFD, ::fcntl(fd_, F_GETFD) & ~FD_CLOEXEC);
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace ds
