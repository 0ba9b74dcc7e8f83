// LRU tile cache (see tile_cache.h): one mutex, O(1) get/put, eviction by byte budget.
#include "slide/reader/tile_cache.h"

#include <algorithm>

namespace ds {

namespace {
constexpr double kReuseWeight = 1.0 / 64;  // EMA weight of one lookup
}

TilePtr TileCache::get(uint64_t key, bool* missed_often) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) {
    ++misses_;
    int before = note_miss_locked(key);
    if (missed_often) *missed_often = before >= 2;
    return nullptr;
  }
  ++hits_;
  note_reuse_locked(1.0);
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

int TileCache::note_miss_locked(uint64_t key) {
  auto g = ghost_map_.find(key);
  bool seen = g != ghost_map_.end();
  note_reuse_locked(seen ? 1.0 : 0.0);
  if (seen) {
    ghost_.splice(ghost_.begin(), ghost_, g->second.at);
    return g->second.misses++;
  }
  ghost_.push_front(key);
  ghost_map_[key] = Ghost{ghost_.begin(), 1};
  size_t cap = std::max<size_t>(64, budget_ / std::max<size_t>(tile_bytes_, 1));
  while (ghost_.size() > cap) {
    ghost_map_.erase(ghost_.back());
    ghost_.pop_back();
  }
  return 0;
}

// A plain mean over the first lookups (so the first few already show the pattern), then an
// exponential moving average over about the last 64.
void TileCache::note_reuse_locked(double reused) {
  const uint64_t n = ++lookups_;
  const double weight = n < 64 ? 1.0 / (double)n : kReuseWeight;
  reuse_ += weight * (reused - reuse_);
}

double TileCache::reuse_rate() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reuse_;
}

void TileCache::put(uint64_t key, TilePtr tile) {
  size_t size = tile->bytes();
  std::lock_guard<std::mutex> lock(mu_);
  tile_bytes_ = size;
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

TilePtr TileCache::load(uint64_t key, const std::function<TilePtr()>& decode, bool wait) {
  std::shared_ptr<Flight> f;
  bool owner = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) return it->second->second;  // decoded meanwhile
    auto fl = flights_.find(key);
    if (fl != flights_.end()) {
      if (!wait) return nullptr;
      f = fl->second;
    } else {
      f = std::make_shared<Flight>();
      flights_[key] = f;
      owner = true;
    }
  }
  if (!owner) {
    std::unique_lock<std::mutex> lock(f->mu);
    f->cv.wait(lock, [&] { return f->done; });
    if (f->error) std::rethrow_exception(f->error);
    return f->tile;
  }
  TilePtr tile;
  std::exception_ptr error;
  try {
    tile = decode();
  } catch (...) {
    error = std::current_exception();
  }
  if (tile) put(key, tile);  // before the flight ends, so a later load finds it cached
  {
    std::lock_guard<std::mutex> lock(mu_);
    flights_.erase(key);
  }
  {
    std::lock_guard<std::mutex> lock(f->mu);
    f->tile = tile;
    f->error = error;
    f->done = true;
  }
  f->cv.notify_all();
  if (error) std::rethrow_exception(error);
  return tile;
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
  ghost_.clear();
  ghost_map_.clear();
  reuse_ = 1.0;
  lookups_ = 0;
}

}  // namespace ds
