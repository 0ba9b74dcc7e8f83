// Writing a file so that readers never see a partial one: every output of deepslide (models,
// checkpoints, CSVs, JSON, images, slides) goes through here.
#pragma once
#include <cstddef>
#include <string>

namespace ds {

// A temporary file beside `path` (`path`.tmp.<pid>.<n>, a name no other writer uses, created
// with O_EXCL | O_NOFOLLOW so a file or link planted under that name is refused, not followed).
// Write through fd() or reopen temp_path() with a library that wants a path; commit() syncs the
// data, renames the file over `path` and syncs the folder. Destroyed uncommitted, it removes the
// temporary file: a failed write leaves nothing behind. Errors are InputError naming `path`.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  int fd() const { return fd_; }
  const std::string& temp_path() const { return tmp_; }
  void write(const void* data, size_t size);
  // sync = false skips both fsyncs (bulk exports of many small files).
  void commit(bool sync = true);

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Removes the temporary files in `dir` (and in its sub-folders down to `depth` levels, not
// through symbolic links) that a deepslide process killed mid-write left behind: names
// `<file>.tmp.<pid>.<n>` whose process no longer runs (or is a zombie, dead but not yet reaped).
// Files of running processes, and every other file, are left alone; with `only_of`, only the
// temporaries of that file name (`<only_of>.tmp.<pid>.<n>`: a folder deepslide does not own).
// Returns how many were removed.
int remove_dead_temporaries(const std::string& dir, int depth = 0, const std::string& only_of = "");

void write_file_atomic(const std::string& path, const void* data, size_t size, bool sync = true);
void write_text_atomic(const std::string& path, const std::string& text, bool sync = true);

}  // namespace ds
