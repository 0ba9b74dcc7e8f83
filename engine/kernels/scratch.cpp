// Thread-local, grow-only scratch buffers (see scratch.h).
#include "engine/kernels/scratch.h"

#include <cstdlib>
#include <memory>
#include <new>

namespace ds {

namespace {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

struct Slot {
  std::unique_ptr<float, FreeDeleter> data;
  int64_t capacity = 0;
};

}  // namespace

float* scratch(ScratchSlot slot, int64_t n) {
  thread_local Slot slots[(int)ScratchSlot::count];
  Slot& s = slots[(int)slot];
  if (n > s.capacity) {
    const size_t bytes = ((size_t)n * sizeof(float) + 63) / 64 * 64;
    float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!p) throw std::bad_alloc();
    s.data.reset(p);
    s.capacity = n;
  }
  return s.data.get();
}

}  // namespace ds
