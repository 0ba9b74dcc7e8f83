// Encoded tiles kept for the next request: an LRU of JPEG/PNG bytes bounded in total size, shared
// by the server's threads. A viewer asks for the same tiles again as the user pans back and forth;
// answering those from here costs a map lookup and a copy, not a resample and an encode.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ds {

class TileBytesCache {
 public:
  explicit TileBytesCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}
  using Bytes = std::shared_ptr<const std::string>;
  Bytes get(const std::string& key);  // null when absent
  void put(const std::string& key, Bytes bytes);
  size_t bytes() const;

 private:
  using Entry = std::pair<std::string, Bytes>;
  mutable std::mutex mu_;
  size_t capacity_, used_ = 0;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace ds
