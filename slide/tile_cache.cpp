// LRU tile cache (see tile_cache.h): one mutex, O(1) get/put, eviction by byte budget.
#include "slide/tile_cache.h"

namespace ds {

TilePtr TileCache::get(uint64_t key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void TileCache::put(uint64_t key, TilePtr tile) {
  size_t size = tile->bytes();
  std::lock_guard<std::mutex> lock(mu_);
  if (size > budget_) return;
  auto it = map_.find(key);
  if (it != map_.end()) {
    bytes_ -= it->second->second->bytes();
    lru_.erase(it->second);
    map_.erase(it);
  }
  lru_.emplace_front(key, std::move(tile));
  map_[key] = lru_.begin();
  bytes_ += size;
  evict_locked();
}

void TileCache::evict_locked() {
  while (bytes_ > budget_ && !lru_.empty()) {
    auto& back = lru_.back();
    bytes_ -= back.second->bytes();
    map_.erase(back.first);
    lru_.pop_back();
  }
}

void TileCache::set_budget(size_t b) {
  std::lock_guard<std::mutex> lock(mu_);
  budget_ = b;
  evict_locked();
}

size_t TileCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

size_t TileCache::budget() const {
  std::lock_guard<std::mutex> lock(mu_);
  return budget_;
}

uint64_t TileCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}

uint64_t TileCache::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}

void TileCache::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  lru_.clear();
  map_.clear();
  bytes_ = 0;
}

}  // namespace ds
