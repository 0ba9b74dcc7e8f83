// LRU cache of decoded tiles with a byte budget, shared by every thread reading a slide. Tiles
// are immutable once decoded and handed out as shared_ptr, so a tile evicted while someone is
// copying from it stays alive until they are done.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "base/block_cache.h"

namespace ds {

// Tile pixels come from the block cache: a tile evicted from the LRU hands its buffer to the next
// decode instead of back to the OS, so decoding never faults in fresh pages (that was ~20% of a
// whole-tile read).
struct Tile {
  int width = 0, height = 0;  // full tile size (edge tiles are padded)
  struct Free {
    size_t bytes;
    void operator()(uint8_t* p) const { block_free(p, bytes); }
  };
  std::unique_ptr<uint8_t[], Free> rgb;  // [height][width][3]; not zeroed (decoders fill it)
  Tile(int w, int h) : width(w), height(h), rgb(static_cast<uint8_t*>(block_alloc(bytes())), Free{bytes()}) {}
  size_t bytes() const { return (size_t)width * height * 3; }
};
using TilePtr = std::shared_ptr<const Tile>;

// Besides the tiles it keeps the keys of recently missed tiles (a "ghost" list as long as the
// cache holds tiles) and a running reuse rate: the share of recent lookups that found their tile
// cached or recently missed (a plain mean over the first 64 lookups, then a moving average).
// Raster sliding windows score near 1 (neighbours share tiles); random regions over a large slide
// near 0, and then caching whole tiles is wasted work (Slide decodes only the needed part of such
// tiles instead).
class TileCache {
 public:
  explicit TileCache(size_t budget_bytes) : budget_(budget_bytes) {}
  // Counts a hit or a miss and updates the reuse rate; on a miss, *missed_often (if given) tells
  // whether the key was missed at least twice before in a short while (while on the ghost list).
  TilePtr get(uint64_t key, bool* missed_often = nullptr);
  double reuse_rate() const;  // 1 until lookups show otherwise
  void put(uint64_t key, TilePtr tile);
  // The tile from the cache, or decoded by `decode` and put in the cache; if another thread is
  // decoding the same key already, waits for its result instead of decoding it twice (threads
  // reading neighbouring windows ask for the same tiles at the same time), or with wait = false
  // returns nullptr at once. Counts no hit or miss.
  TilePtr load(uint64_t key, const std::function<TilePtr()>& decode, bool wait = true);
  void set_budget(size_t bytes);
  size_t bytes() const;
  size_t budget() const;
  uint64_t hits() const;
  uint64_t misses() const;
  void clear();

 private:
  void evict_locked();
  // Ghost lookup + insert, updates reuse_; returns how often the key was missed before (0 = new).
  int note_miss_locked(uint64_t key);
  void note_reuse_locked(double reused);  // 1 for a hit or a ghost hit, 0 for a fresh miss
  mutable std::mutex mu_;
  size_t budget_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
  std::list<std::pair<uint64_t, TilePtr>> lru_;  // front = most recent
  std::unordered_map<uint64_t, std::list<std::pair<uint64_t, TilePtr>>::iterator> map_;
  std::list<uint64_t> ghost_;  // front = most recent miss
  struct Ghost {
    std::list<uint64_t>::iterator at;
    int misses;
  };
  std::unordered_map<uint64_t, Ghost> ghost_map_;
  struct Flight {  // one decode in progress
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    TilePtr tile;
    std::exception_ptr error;
  };
  std::unordered_map<uint64_t, std::shared_ptr<Flight>> flights_;
  double reuse_ = 1.0;
  uint64_t lookups_ = 0;               // since construction or clear(), for the reuse rate's warm-up
  size_t tile_bytes_ = 256 * 256 * 3;  // last tile size put, to size the ghost list
};

}  // namespace ds
