// LRU bookkeeping under one mutex: the work done while holding it is a hash lookup and a list
// splice, far below the cost of the tile it saves.
#include "serve/tile_bytes_cache.h"

namespace ds {

TileBytesCache::Bytes TileBytesCache::get(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void TileBytesCache::put(const std::string& key, Bytes bytes) {
  if (!bytes || bytes->size() > capacity_) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(key);
  if (it != index_.end()) {
    used_ -= it->second->second->size();
    lru_.erase(it->second);
    index_.erase(it);
  }
  used_ += bytes->size();
  lru_.emplace_front(key, std::move(bytes));
  index_[key] = lru_.begin();
  while (used_ > capacity_ && !lru_.empty()) {
    used_ -= lru_.back().second->size();
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

size_t TileBytesCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_;
}

}  // namespace ds
