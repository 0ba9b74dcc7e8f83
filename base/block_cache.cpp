// Exact-size free lists of large blocks (see block_cache.h), capped so an unusual workload
// cannot hoard memory: past the cap, freed blocks go back to the system.
#include "base/block_cache.h"

#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace ds {

namespace {

constexpr size_t kMinCached = size_t(64) << 10;  // smaller blocks: plain aligned_alloc/free
constexpr size_t kCap = size_t(4) << 30;         // most bytes held for reuse

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free;
  size_t held = 0;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: tensors may be freed during static teardown
  return *c;
}

size_t rounded(size_t bytes) { return (bytes + 63) / 64 * 64; }

}  // namespace

void* block_alloc(size_t bytes) {
  bytes = rounded(bytes ? bytes : 64);
  if (bytes >= kMinCached) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free.find(bytes);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.held -= bytes;
      return p;
    }
  }
  if (bytes >= kMinCached) {
    // Fresh large blocks are mapped with their pages populated in one call: faulting them in one
    // page at a time on first write cost ~4x as much (12 us per 4 KB page on a VM, see
    // BENCHMARKS.md).
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
  }
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return p;
}

void block_free(void* p, size_t bytes) {
  if (!p) return;
  bytes = rounded(bytes ? bytes : 64);
  if (bytes >= kMinCached) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.held + bytes <= kCap) {
      c.free[bytes].push_back(p);
      c.held += bytes;
      return;
    }
    munmap(p, bytes);
    return;
  }
  std::free(p);
}

}  // namespace ds
