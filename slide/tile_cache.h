// LRU cache of decoded tiles with a byte budget, shared by every thread reading a slide. Tiles
// are immutable once decoded and handed out as shared_ptr, so a tile evicted while someone is
// copying from it stays alive until they are done.
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace ds {

struct Tile {
  int width = 0, height = 0;        // full tile size (edge tiles are padded)
  std::unique_ptr<uint8_t[]> rgb;   // [height][width][3]; not zeroed on allocation (decoders fill it)
  Tile(int w, int h) : width(w), height(h), rgb(new uint8_t[bytes()]) {}
  size_t bytes() const { return (size_t)width * height * 3; }
};
using TilePtr = std::shared_ptr<const Tile>;

class TileCache {
 public:
  explicit TileCache(size_t budget_bytes) : budget_(budget_bytes) {}
  TilePtr get(uint64_t key);
  void put(uint64_t key, TilePtr tile);
  void set_budget(size_t bytes);
  size_t bytes() const;
  size_t budget() const;
  uint64_t hits() const;
  uint64_t misses() const;
  void clear();

 private:
  void evict_locked();
  mutable std::mutex mu_;
  size_t budget_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
  std::list<std::pair<uint64_t, TilePtr>> lru_;  // front = most recent
  std::unordered_map<uint64_t, std::list<std::pair<uint64_t, TilePtr>>::iterator> map_;
};

}  // namespace ds
