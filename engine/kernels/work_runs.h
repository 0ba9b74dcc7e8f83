// Work items split between the threads in contiguous runs, with stealing: each thread takes the
// items of its own run from the front, in order (so consecutive items keep sharing weights and
// row pointers in its caches), and a thread whose run is done takes items from the back of the
// run with the most left. A static split runs at the pace of the slowest thread; on a shared or
// virtual machine one core is often 10-20% slower than the other for seconds at a time (measured
// on the 2-core VMs: single-thread ResNet-18 inference 52 against 62 img/s on its two vCPUs in
// one minute, equal the next), and stealing gives that time back. An item must compute its
// outputs whole, so the results do not depend on which thread runs it.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

#include "base/error.h"

namespace ds {

class WorkRuns {
 public:
  // Items [0, n) in runs of ends[t] - ends[t - 1] for thread t (ends[-1] = 0, ends[nt - 1] = n).
  template <class End>
  WorkRuns(int nt, End end_of) : nt_(nt), runs_(new Run[(size_t)nt]) {
    int64_t begin = 0;
    for (int t = 0; t < nt; ++t) {
      const int64_t e = end_of(t);
      DS_CHECK(e >= begin && e < (int64_t(1) << 32), "WorkRuns: runs out of order or too long");
      runs_[(size_t)t].v.store(pack(begin, e), std::memory_order_relaxed);
      begin = e;
    }
  }

  // The next item for thread tid (any tid: a region with fewer threads than runs steals the
  // rest); false when every item has been taken.
  bool next(int tid, int64_t& item) {
    if (tid < nt_ && take(runs_[(size_t)tid].v, false, item)) return true;
    for (;;) {  // steal from the run with the most items left
      int victim = -1;
      int64_t most = 0;
      for (int t = 0; t < nt_; ++t) {
        const uint64_t v = runs_[(size_t)t].v.load(std::memory_order_relaxed);
        if (back(v) - front(v) > most) most = back(v) - front(v), victim = t;
      }
      if (victim < 0) return false;
      if (take(runs_[(size_t)victim].v, true, item)) return true;
    }
  }

 private:
  struct alignas(64) Run {  // [front, back) of the run's untaken items, one word so one CAS moves either end
    std::atomic<uint64_t> v{0};
  };
  static uint64_t pack(int64_t f, int64_t b) { return (uint64_t)f | ((uint64_t)b << 32); }
  static int64_t front(uint64_t v) { return (int64_t)(v & 0xffffffffu); }
  static int64_t back(uint64_t v) { return (int64_t)(v >> 32); }

  static bool take(std::atomic<uint64_t>& run, bool from_back, int64_t& item) {
    uint64_t v = run.load(std::memory_order_relaxed);
    for (;;) {
      const int64_t f = front(v), b = back(v);
      if (f >= b) return false;
      const uint64_t nv = from_back ? pack(f, b - 1) : pack(f + 1, b);
      if (run.compare_exchange_weak(v, nv, std::memory_order_acq_rel, std::memory_order_relaxed)) {
        item = from_back ? b - 1 : f;
        return true;
      }
    }
  }

  int nt_;
  std::unique_ptr<Run[]> runs_;
};

}  // namespace ds
