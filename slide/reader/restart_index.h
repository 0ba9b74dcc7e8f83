// Where each restart interval of one large JPEG starts, so an interval can be decoded without
// the data before it (NDPI levels: one interval is one tile). Offsets the file records (NDPI tag
// 65426) are used as given and checked when a tile is read (the two bytes before an interval must
// be a restart marker, as OpenSlide checks); without them the data is scanned for RSTn markers
// lazily, only as far as the tiles asked for, under a lock (as OpenSlide does). Thread-safe.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ds {

class RestartIndex {
 public:
  // `count` intervals in the entropy-coded data [data_begin, data_end) of the file open as `fd`.
  // `recorded`: each interval's start as a file offset (recorded[0] is ignored: it is
  // data_begin), or empty. InputError naming `path` when recorded offsets are impossible.
  RestartIndex(int fd, std::string path, uint64_t data_begin, uint64_t data_end, uint64_t count,
               std::vector<uint64_t> recorded);
  // [begin, end) of interval i: its data followed by the restart marker that ends it (for the
  // last one, the data up to the end of the JPEG). InputError when the data has fewer restart
  // markers than intervals.
  std::pair<uint64_t, uint64_t> range(uint64_t i, const std::string& what);
  // True when interval starts come from the file's record (checked as they are read), false
  // when found by scanning.
  bool recorded() const { return recorded_; }

 private:
  uint64_t start_locked(uint64_t i, const std::string& what);  // scans as far as interval i
  int fd_;
  std::string path_;
  uint64_t begin_, end_, count_;
  bool recorded_;
  std::mutex mu_;
  std::vector<uint64_t> starts_;  // count_ + 1 entries; starts_[count_] = end_
  uint64_t known_ = 0;            // starts_[0..known_] are found (scan mode)
  uint64_t scan_pos_ = 0;         // where scanning resumes
};

}  // namespace ds
