// Restart-interval index of a JPEG (see restart_index.h).
#include "slide/reader/restart_index.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace ds {

RestartIndex::RestartIndex(int fd, std::string path, uint64_t data_begin, uint64_t data_end, uint64_t count,
                           std::vector<uint64_t> recorded)
    : fd_(fd), path_(std::move(path)), begin_(data_begin), end_(data_end), count_(count), recorded_(!recorded.empty()) {
  if (recorded_) {
    starts_ = std::move(recorded);
    starts_[0] = begin_;
    starts_.push_back(end_);
    // Each interval holds at least one byte and ends with a 2-byte marker.
    for (uint64_t i = 1; i <= count_; ++i)
      if (starts_[i] < starts_[i - 1] + 3 || starts_[i] > end_)
        throw InputError(path_,
                         "recorded restart marker offsets (NDPI tag 65426) are out of order or outside "
                         "the JPEG at interval " +
                             std::to_string(i));
    known_ = count_;
  } else {
    starts_.assign(count_ + 1, 0);
    starts_[0] = begin_;
    starts_[count_] = end_;
    scan_pos_ = begin_;
  }
}

uint64_t RestartIndex::start_locked(uint64_t i, const std::string& what) {
  if (i <= known_ || i == count_) return starts_[i];
  // Scan from where the last search stopped for the next RSTn markers (0xFF 0xD0..0xD7; 0xFF 0x00
  // is a stuffed byte, 0xFF 0xFF fill).
  uint8_t buf[1 << 16];
  bool ff = false;
  while (known_ < i) {
    if (scan_pos_ >= end_)
      throw InputError(path_, what + ": the JPEG has " + std::to_string(known_) + " restart markers where " +
                                  std::to_string(count_ - 1) + " were expected (broken restart markers)");
    size_t n = (size_t)std::min<uint64_t>(sizeof buf, end_ - scan_pos_);
    ssize_t r = ::pread(fd_, buf, n, (off_t)scan_pos_);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw InputError(path_, what + ": read failed (truncated file?)");
    for (ssize_t k = 0; k < r && known_ < i; ++k) {
      if (ff) {
        ff = buf[k] == 0xFF;
        if (buf[k] >= 0xD0 && buf[k] <= 0xD7) {
          // RSTn count 0..7 in turn: a marker out of turn means one was lost on the way, and
          // every interval after it would be read in the wrong place.
          if (buf[k] != 0xD0 + known_ % 8)
            throw InputError(path_, what + ": restart marker " + std::to_string(known_) + " is RST" +
                                        std::to_string(buf[k] - 0xD0) + " where RST" + std::to_string(known_ % 8) +
                                        " was expected (broken restart markers)");
          starts_[++known_] = scan_pos_ + (uint64_t)k + 1;
        }
        continue;
      }
      const void* hit = std::memchr(buf + k, 0xFF, (size_t)(r - k));
      if (!hit) break;
      k = static_cast<const uint8_t*>(hit) - buf;
      ff = true;
    }
    // Resume after the last marker found, or after the buffer (keeping a pending 0xFF).
    if (known_ >= i) {
      scan_pos_ = starts_[known_];
      break;
    }
    scan_pos_ += (uint64_t)r;
  }
  return starts_[i];
}

std::pair<uint64_t, uint64_t> RestartIndex::range(uint64_t i, const std::string& what) {
  if (i >= count_) throw InternalError("restart interval " + std::to_string(i) + " of " + std::to_string(count_));
  if (recorded_) return {starts_[i], starts_[i + 1]};
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t b = start_locked(i, what), e = start_locked(i + 1, what);
  return {b, e};
}

}  // namespace ds
